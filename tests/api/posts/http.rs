//! The posts slice over HTTP: its mutations under the rules of GraphQL over HTTP (no mutation over
//! `GET`, variables coerced before anything runs, a failed non-null field stops the next ones),
//! its input rules, and a post deleted while it is being changed. Moved here from
//! `hardening.rs` and `graphql_over_http.rs`, so that removing the example removes them too.

use std::sync::{Arc, Mutex};

use clerk_graphql::db;
use clerk_graphql::posts::entity as posts;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_clerk::clerk_user_json;
use crate::hardening::{bearer, graphql_url, reply};
use crate::helpers::{
    AppOptions, GRAPHQL_RESPONSE_JSON, GraphqlReply, TestApp, spawn_app, spawn_app_with,
};
use crate::limits::assert_still_serving;
use crate::test_db::{Backend, on_every_backend};
use crate::tokens::{TestKey, session_claims};

async fn post_with_variables(
    app: &TestApp,
    query: &str,
    variables: serde_json::Value,
    headers: &[(&str, &str)],
) -> GraphqlReply {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", GRAPHQL_RESPONSE_JSON)
        .json(&json!({ "query": query, "variables": variables }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    GraphqlReply::read(request.send().await.unwrap()).await
}

async fn create_post(app: &TestApp, bearer: &str, title: &str, body: &str) -> GraphqlReply {
    let query = json!({
        "query": "mutation ($t: String!, $b: String!) { createPost(input: {title: $t, body: $b}) { id title } }",
        "variables": {"t": title, "b": body},
    });
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", bearer)
        .json(&query)
        .send()
        .await
        .unwrap();
    GraphqlReply::read(response).await
}

#[tokio::test]
async fn a_mutation_over_get_is_405_and_does_not_run() {
    let app = spawn_app().await;
    app.clerk.add_users(vec![clerk_user_json("user_get", None)]);
    let mutation = r#"mutation { createPost(input: {title: "via GET", published: true}) { id } }"#;
    let response = app
        .client
        .get(graphql_url(&app, &[("query", mutation)]))
        .header("authorization", bearer("user_get"))
        .send()
        .await
        .unwrap();
    let refused = reply(response).await;
    assert_eq!(
        refused.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "body: {}",
        refused.body
    );
    assert_eq!(refused.headers["allow"], "POST");
    assert_eq!(refused.code(), Some("BAD_REQUEST"));
    assert_eq!(refused.reason(), Some("method_not_allowed"));
    assert!(refused.body.get("data").is_none());

    let posts = app.post_graphql("{ posts { nodes { title } } }", &[]).await;
    assert_eq!(
        posts.body["data"]["posts"]["nodes"],
        json!([]),
        "{}",
        posts.body
    );
    // The same mutation over POST is fine: it was refused for the method only.
    let created = app
        .post_graphql(mutation, &[("authorization", &bearer("user_get"))])
        .await;
    assert_eq!(created.status, StatusCode::OK, "body: {}", created.body);
    assert!(
        created.body["data"]["createPost"]["id"].is_string(),
        "{}",
        created.body
    );
    assert_still_serving(&app).await;
}

async fn titles_and_bodies_refuse_control_and_invisible_characters(backend: Backend) {
    let app = spawn_app_with(AppOptions::default().on(backend)).await;
    let bearer = author(&app, "user_rules").await;
    let db = app.database.connect().await;

    for (title, body, field, problem) in [
        ("a\u{0}b", "", "title", "U+0000 at character 2"),
        ("\u{200B}", "", "title", "visible"),
        (" \u{FEFF}\u{2060} \u{200D}", "", "title", "visible"),
        ("Colours", "red: \u{1B}[31m", "body", "U+001B"),
        ("C1", "next\u{85}line", "body", "U+0085"),
    ] {
        let refused = create_post(&app, &bearer, title, body).await;
        assert_bad_field(&refused, field, problem);
    }
    assert_eq!(posts::Entity::find().count(&db).await.unwrap(), 0);

    // Newlines and tabs are a body's layout.
    let created = create_post(&app, &bearer, "Layout", "line 1\n\tline 2").await;
    let id = created.body["data"]["createPost"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", created.body))
        .to_string();
    // The same rules on update; the post is unchanged.
    let update = format!(
        r#"mutation {{ updatePost(id: "{id}", input: {{title: "\u200b\u2060"}}) {{ id }} }}"#
    );
    let reply = app
        .post_graphql(&update, &[("authorization", &bearer)])
        .await;
    assert_bad_field(&reply, "title", "visible");
    let rows = posts::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].title.as_str(), rows[0].body.as_str()),
        ("Layout", "line 1\n\tline 2")
    );
}

/// A post deleted by someone else between `updatePost`'s (or `deletePost`'s) ownership check and
/// its write. The race is made certain, not likely: when the request's own read of the post has
/// run, the statement hook deletes the row from another connection before the next statement.
async fn a_post_deleted_meanwhile_is_not_found(backend: Backend) {
    // The database and the id of the post to delete at the next read of a post by id.
    type Armed = Arc<Mutex<Option<(String, Uuid)>>>;
    let armed: Armed = Arc::default();
    let trigger = Arc::clone(&armed);
    let app = spawn_app_with(AppOptions {
        on_statement: Some(Arc::new(move |sql: &str| {
            if !(sql.starts_with("SELECT") && sql.contains(r#"FROM "posts" WHERE "posts"."id" ="#))
            {
                return;
            }
            let Some((url, id)) = trigger.lock().unwrap().take() else {
                return;
            };
            // This hook is synchronous, inside the server's runtime: the deletion runs on a
            // thread and a runtime of its own, and the request waits for it.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let db = db::connect(&url).await.unwrap();
                    let deleted = posts::Entity::delete_by_id(id).exec(&db).await.unwrap();
                    assert_eq!(deleted.rows_affected, 1);
                    db.close().await.unwrap();
                });
            })
            .join()
            .expect("the concurrent deletion");
        })),
        ..AppOptions::default().on(backend)
    })
    .await;
    let bearer = author(&app, "user_race").await;
    let url = app.database.url().to_string();
    let db = app.database.connect().await;

    for mutation in [
        r#"updatePost(id: "ID", input: {title: "Renamed"}) { id title }"#,
        r#"deletePost(id: "ID")"#,
    ] {
        let created = create_post(&app, &bearer, "Doomed", "").await;
        let id = created.body["data"]["createPost"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", created.body))
            .to_string();
        let uuid = Uuid::parse_str(&id).unwrap();
        *armed.lock().unwrap() = Some((url.clone(), uuid));
        let reply = app
            .post_graphql(
                &format!("mutation {{ {} }}", mutation.replace("ID", &id)),
                &[("authorization", &bearer)],
            )
            .await;
        assert!(armed.lock().unwrap().is_none(), "the hook deleted the post");
        assert_eq!(reply.status, StatusCode::OK, "{mutation}: {}", reply.body);
        assert_eq!(
            reply.code(),
            Some("NOT_FOUND"),
            "{mutation}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["data"],
            Value::Null,
            "{mutation}: {}",
            reply.body
        );
        let name = mutation.split('(').next().unwrap();
        assert_eq!(reply.body["errors"][0]["path"], json!([name]));
        let left = posts::Entity::find()
            .filter(posts::Column::Id.eq(uuid))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }

    // Unarmed, the same update succeeds: the NOT_FOUND above was the race.
    let created = create_post(&app, &bearer, "Kept", "").await;
    let id = created.body["data"]["createPost"]["id"].as_str().unwrap();
    let reply = app
        .post_graphql(
            &format!(
                r#"mutation {{ updatePost(id: "{id}", input: {{title: "Renamed"}}) {{ title }} }}"#
            ),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"data": {"updatePost": {"title": "Renamed"}}})
    );
}

#[tokio::test]
async fn after_a_failed_non_null_mutation_field_the_next_ones_do_not_run() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![crate::fake_clerk::clerk_user_json("user_mut", None)]);
    let token = crate::tokens::TestKey::primary().sign(&crate::tokens::session_claims("user_mut"));
    let bearer = format!("Bearer {token}");
    let reply = app
        .post_graphql(
            r#"mutation {
                 a: createPost(input: {title: "   "}) { id }
                 b: createPost(input: {title: "must not be written"}) { id }
               }"#,
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(
        reply.body["data"],
        serde_json::Value::Null,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    let posts = app.post_graphql("{ posts { nodes { title } } }", &[]).await;
    assert_eq!(
        posts.body["data"]["posts"]["nodes"],
        json!([]),
        "{}",
        posts.body
    );
}

#[tokio::test]
async fn variables_are_coerced_before_anything_runs() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![crate::fake_clerk::clerk_user_json("user_var", None)]);
    let token = crate::tokens::TestKey::primary().sign(&crate::tokens::session_claims("user_var"));
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let count_posts = || async {
        let reply = app.post_graphql("{ posts { nodes { id } } }", &[]).await;
        reply.body["data"]["posts"]["nodes"]
            .as_array()
            .unwrap()
            .len()
    };

    // The mutation of the issue: without `$m`, nothing runs — no post is written.
    let mutation = r#"mutation M($m: String!) {
        a: createPost(input: {title: "written?", published: true}) { id }
        b: echo(message: $m)
    }"#;
    let reply = post_with_variables(&app, mutation, json!({}), &auth).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"$m\" of required type \"String!\" was not provided"),
        "{}",
        reply.body
    );
    assert_eq!(count_posts().await, 0);

    let query = "query Q($n: Int!) { posts(first: $n) { nodes { id } } }";
    for (variables, why) in [
        (json!({"n": "ten"}), "not a valid Int"),
        (json!({"n": null}), "null for the non-null type"),
        (json!({"n": 1.5}), "not a valid Int"),
    ] {
        let reply = post_with_variables(&app, query, variables.clone(), &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{variables}: {}",
            reply.body
        );
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{variables}: {message}");
    }
    let create = "mutation C($input: CreatePostInput!) { createPost(input: $input) { id } }";
    for (input, why) in [
        (json!({"titl": "typo"}), "has no field \"titl\""),
        (
            json!({"body": "no title"}),
            "CreatePostInput.title is required",
        ),
        (
            json!({"title": "x", "published": "yes"}),
            "CreatePostInput.published",
        ),
    ] {
        let reply = post_with_variables(&app, create, json!({ "input": input }), &auth).await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{input}: {}",
            reply.body
        );
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{input}: {message}");
    }
    assert_eq!(count_posts().await, 0);

    // Valid variables, defaults and a single value for a list run as before.
    let reply = post_with_variables(&app, query, json!({"n": 2}), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = post_with_variables(
        &app,
        "query D($n: Int = 2) { posts(first: $n) { nodes { id } } }",
        json!({}),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = post_with_variables(&app, create, json!({"input": {"title": "ok"}}), &auth).await;
    assert!(
        reply.body["data"]["createPost"]["id"].is_string(),
        "{}",
        reply.body
    );
    // Under `application/json`: the same error, answered 200.
    let legacy = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", "application/json")
        .json(&json!({"query": query, "variables": {"n": "ten"}}))
        .send()
        .await
        .unwrap();
    let legacy = GraphqlReply::read(legacy).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_eq!(legacy.code(), Some("BAD_USER_INPUT"));
}

on_every_backend!(
    titles_and_bodies_refuse_control_and_invisible_characters,
    a_post_deleted_meanwhile_is_not_found,
);

/// A signed-in author whose user row exists (provisioned from the fake Clerk), and their token.
async fn author(app: &TestApp, user_id: &str) -> String {
    app.clerk.add_users(vec![clerk_user_json(user_id, None)]);
    format!(
        "Bearer {}",
        TestKey::primary().sign(&session_claims(user_id))
    )
}

#[track_caller]
fn assert_bad_field(reply: &GraphqlReply, field: &str, words: &str) {
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "body: {}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(error["extensions"]["field"], field, "body: {}", reply.body);
    assert!(
        error["message"].as_str().unwrap().contains(words),
        "body: {}",
        reply.body
    );
}
