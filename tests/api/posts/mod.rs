//! The example domain (issue 5): posts with ownership checks, visibility, pagination and the
//! batched `author`, on SQLite and PostgreSQL. All of the posts slice's tests live in this folder,
//! so that removing the example removes them with one `mod posts;` line.

mod events;
mod http;
mod personal_data;

use std::collections::HashSet;

use chrono::Utc;
use clerk_graphql::clerk::ClerkUser;
use clerk_graphql::posts::{NewPost, store};
use clerk_graphql::users::apply_snapshot;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{GraphqlReply, TestApp, spawn_app_on};
use crate::test_db::{Backend, on_every_backend};
use crate::tokens::{TestKey, session_claims, with};

/// How many statements the application has run on its database so far.
pub(crate) fn statements_run(app: &TestApp) -> usize {
    app.statement_log.lock().unwrap().len()
}

fn bearer(user_id: &str, role: Option<&str>) -> String {
    let mut claims = session_claims(user_id);
    if let Some(role) = role {
        claims = with(claims, json!({"metadata": {"role": role}}));
    }
    format!("Bearer {}", TestKey::primary().sign(&claims))
}

async fn as_user(app: &TestApp, user_id: &str, query: &str) -> GraphqlReply {
    app.post_graphql(query, &[("authorization", &bearer(user_id, None))])
        .await
}

async fn seed_user(db: &DatabaseConnection, id: &str) {
    let user: ClerkUser = serde_json::from_value(clerk_user_json(id, None)).unwrap();
    apply_snapshot(db, &user, Utc::now()).await.unwrap();
}

async fn seed_post(db: &DatabaseConnection, author: &str, title: &str, published: bool) -> String {
    let post = NewPost {
        title: title.into(),
        body: format!("body of {title}"),
        published,
    };
    store::create(db, author, post, Utc::now())
        .await
        .unwrap()
        .id
        .to_string()
}

on_every_backend!(
    a_page_of_100_posts_by_37_authors_costs_two_statements,
    only_the_author_or_an_admin_may_change_a_post,
    drafts_are_seen_by_their_author_only,
    create_post_validates_and_provisions_the_author,
    posts_page_with_cursors,
    a_deleted_author_is_null_on_a_page_and_on_a_single_post,
    a_page_reads_bodies_only_when_its_selection_asks_for_them,
);

async fn a_page_of_100_posts_by_37_authors_costs_two_statements(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    for i in 0..37 {
        seed_user(&db, &format!("user_{i:02}")).await;
    }
    for i in 0..100 {
        seed_post(
            &db,
            &format!("user_{:02}", i % 37),
            &format!("post {i}"),
            true,
        )
        .await;
    }
    let query =
        "{ posts(first: 100) { nodes { id title author { id email } } pageInfo { hasNextPage } } }";
    // An admin by role claim reads the authors' emails (personal data) without a Clerk call.
    let before = statements_run(&app);
    let reply = app
        .post_graphql(
            query,
            &[("authorization", &bearer("user_admin", Some("admin")))],
        )
        .await;
    let statements = statements_run(&app) - before;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let nodes = reply.body["data"]["posts"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    let authors: HashSet<&str> = nodes
        .iter()
        .map(|node| {
            let id = node["author"]["id"].as_str().unwrap();
            assert_eq!(node["author"]["email"], format!("{id}@example.com"));
            id
        })
        .collect();
    assert_eq!(authors.len(), 37);
    assert_eq!(nodes[0]["title"], "post 99", "newest first");
    assert_eq!(statements, 2, "one for the posts, one for all 37 authors");

    // Through `edges { node }` too, and nested under a user.
    let before = statements_run(&app);
    let reply = app
        .post_graphql(
            "{ posts(first: 50) { edges { node { author { id } } } } }",
            &[],
        )
        .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(statements_run(&app) - before, 2);
}

/// A page hands the authors it loaded to its posts; the author of a single post comes from the
/// request's loader. Both must answer `null` for a deleted author, and not fail the page.
async fn a_deleted_author_is_null_on_a_page_and_on_a_single_post(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed_user(&db, "user_stays").await;
    seed_user(&db, "user_leaves").await;
    let kept = seed_post(&db, "user_stays", "kept", true).await;
    let orphan = seed_post(&db, "user_leaves", "orphan", true).await;
    clerk_graphql::users::apply_deletion(&db, "user_leaves", Utc::now())
        .await
        .unwrap();

    let reply = app
        .post_graphql("{ posts(first: 10) { nodes { id author { id } } } }", &[])
        .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["data"]["posts"]["nodes"],
        json!([
            {"id": orphan, "author": null},
            {"id": kept, "author": {"id": "user_stays"}},
        ])
    );

    for (id, author) in [(&orphan, json!(null)), (&kept, json!({"id": "user_stays"}))] {
        let reply = app
            .post_graphql(
                &format!(r#"{{ post(id: "{id}") {{ author {{ id }} }} }}"#),
                &[],
            )
            .await;
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        assert_eq!(reply.body["data"]["post"]["author"], author);
    }
}

/// PostBodies are up to 20,000 characters: a page reads them only when the selection names `body`,
/// however it does (`nodes`, `edges { node }`, an alias, a fragment).
async fn a_page_reads_bodies_only_when_its_selection_asks_for_them(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed_user(&db, "user_writer").await;
    for i in 0..3 {
        seed_post(&db, "user_writer", &format!("post {i}"), true).await;
    }
    let page_sql = |query: &'static str| {
        let app = &app;
        async move {
            app.statement_log.lock().unwrap().clear();
            let reply = app.post_graphql(query, &[]).await;
            assert!(reply.body.get("errors").is_none(), "{}", reply.body);
            let log = app.statement_log.lock().unwrap().clone();
            assert_eq!(log.len(), 1, "one statement for the page: {log:?}");
            (reply.body, log[0].clone())
        }
    };
    let reads_body = |sql: &str| sql.contains(r#""posts"."body""#);

    let (body, sql) = page_sql("{ posts { nodes { id title } } }").await;
    assert!(!reads_body(&sql), "{sql}");
    assert_eq!(body["data"]["posts"]["nodes"][0]["title"], "post 2");

    for query in [
        "{ posts { nodes { title body } } }",
        "{ posts { edges { node { title text: body } } } }",
        "{ posts { nodes { ...Full } } } fragment Full on Post { title body }",
        "{ posts { nodes { ... on Post { title body } } } }",
    ] {
        let (body, sql) = page_sql(query).await;
        assert!(reads_body(&sql), "{query}: {sql}");
        let posts = &body["data"]["posts"];
        let node = if posts["nodes"].is_null() {
            &posts["edges"][0]["node"]
        } else {
            &posts["nodes"][0]
        };
        let text = node.get("body").or(node.get("text")).unwrap();
        assert_eq!(node["title"], "post 2", "{query}");
        assert_eq!(text, "body of post 2", "{query}");
    }
}

async fn only_the_author_or_an_admin_may_change_a_post(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    for user in ["user_author", "user_other", "user_admin"] {
        seed_user(&db, user).await;
    }
    let viewers: [(&str, Option<String>); 4] = [
        ("author", Some(bearer("user_author", None))),
        ("other user", Some(bearer("user_other", None))),
        ("admin", Some(bearer("user_admin", Some("admin")))),
        ("anonymous", None),
    ];
    let mut checked = 0;
    for (who, authorization) in &viewers {
        for operation in ["update", "delete"] {
            let id = seed_post(&db, "user_author", "Original", true).await;
            let query = match operation {
                "update" => format!(
                    r#"mutation {{ updatePost(id: "{id}", input: {{title: "Changed by {who}"}}) {{ id title }} }}"#
                ),
                _ => format!(r#"mutation {{ deletePost(id: "{id}") }}"#),
            };
            let headers: Vec<(&str, &str)> = authorization
                .iter()
                .map(|value| ("authorization", value.as_str()))
                .collect();
            let reply = app.post_graphql(&query, &headers).await;
            let context = format!("{who} × {operation}: {}", reply.body);
            let expected_code = match *who {
                "author" | "admin" => None,
                "other user" => Some("FORBIDDEN"),
                _ => Some("UNAUTHENTICATED"),
            };
            assert_eq!(reply.code(), expected_code, "{context}");
            let still_there = app
                .post_graphql(&format!(r#"{{ post(id: "{id}") {{ title }} }}"#), &[])
                .await;
            let title = &still_there.body["data"]["post"]["title"];
            match (expected_code, operation) {
                (None, "update") => {
                    assert_eq!(
                        reply.body["data"]["updatePost"]["title"],
                        format!("Changed by {who}"),
                        "{context}"
                    );
                    assert_eq!(title, &json!(format!("Changed by {who}")), "{context}");
                }
                (None, _) => {
                    assert_eq!(reply.body["data"]["deletePost"], json!(id), "{context}");
                    assert_eq!(still_there.body["data"]["post"], Value::Null, "{context}");
                }
                (Some(_), _) => assert_eq!(title, "Original", "{context}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8);

    // Unknown ids, malformed ids and other users' drafts are all NOT_FOUND.
    let draft = seed_post(&db, "user_author", "Draft", false).await;
    for id in [
        draft.as_str(),
        "0192f0c1-0000-7000-8000-000000000000",
        "not-a-uuid",
    ] {
        let reply = as_user(
            &app,
            "user_other",
            &format!(r#"mutation {{ deletePost(id: "{id}") }}"#),
        )
        .await;
        assert_eq!(reply.code(), Some("NOT_FOUND"), "{id}: {}", reply.body);
    }
}

async fn drafts_are_seen_by_their_author_only(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed_user(&db, "user_author").await;
    let published = seed_post(&db, "user_author", "Public", true).await;
    let draft = seed_post(&db, "user_author", "Draft", false).await;

    let reply = app.post_graphql("{ posts { nodes { title } } }", &[]).await;
    assert_eq!(
        reply.body["data"]["posts"]["nodes"],
        json!([{"title": "Public"}])
    );
    let query = format!(
        r#"{{ a: post(id: "{published}") {{ title }} b: post(id: "{draft}") {{ title }} }}"#
    );
    let reply = app.post_graphql(&query, &[]).await;
    assert_eq!(
        reply.body["data"],
        json!({"a": {"title": "Public"}, "b": null})
    );
    let reply = as_user(&app, "user_other", &query).await;
    assert_eq!(
        reply.body["data"],
        json!({"a": {"title": "Public"}, "b": null})
    );
    let reply = as_user(&app, "user_author", &query).await;
    assert_eq!(
        reply.body["data"],
        json!({"a": {"title": "Public"}, "b": {"title": "Draft"}})
    );

    let mine = r#"{ posts(authorId: "user_author") { nodes { title published } } }"#;
    let reply = as_user(&app, "user_author", mine).await;
    assert_eq!(
        reply.body["data"]["posts"]["nodes"],
        json!([{"title": "Draft", "published": false}, {"title": "Public", "published": true}])
    );
    let reply = as_user(&app, "user_other", mine).await;
    assert_eq!(
        reply.body["data"]["posts"]["nodes"],
        json!([{"title": "Public", "published": true}])
    );
}

async fn create_post_validates_and_provisions_the_author(backend: Backend) {
    let app = spawn_app_on(backend).await;
    // No row yet: the author is provisioned from Clerk on first write.
    app.clerk.add_users(vec![clerk_user_json("user_new", None)]);
    let create = r#"mutation { createPost(input: {title: "  Hello  ", body: "World", published: true}) { id title body published author { id email } } }"#;
    let reply = as_user(&app, "user_new", create).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let post = &reply.body["data"]["createPost"];
    assert_eq!(post["title"], "Hello");
    assert_eq!(
        post["author"],
        json!({"id": "user_new", "email": "user_new@example.com"})
    );

    let long_title = "t".repeat(201);
    let long_body = "b".repeat(20_001);
    for (input, field) in [
        (r#"{title: "   "}"#.to_string(), "title"),
        (format!(r#"{{title: "{long_title}"}}"#), "title"),
        (format!(r#"{{title: "ok", body: "{long_body}"}}"#), "body"),
    ] {
        let reply = as_user(
            &app,
            "user_new",
            &format!("mutation {{ createPost(input: {input}) {{ id }} }}"),
        )
        .await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
        assert_eq!(reply.body["errors"][0]["extensions"]["field"], field);
    }
    let id = post["id"].as_str().unwrap();
    let reply = as_user(
        &app,
        "user_new",
        &format!(r#"mutation {{ updatePost(id: "{id}", input: {{title: ""}}) {{ id }} }}"#),
    )
    .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);

    let reply = app.post_graphql(create, &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
}

async fn posts_page_with_cursors(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed_user(&db, "user_a").await;
    for i in 0..7 {
        seed_post(&db, "user_a", &format!("p{i}"), true).await;
    }
    let mut titles = Vec::new();
    let mut after = Value::Null;
    loop {
        let query = format!(
            "{{ posts(first: 3, after: {after}) {{ nodes {{ title }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let reply = app.post_graphql(&query, &[]).await;
        let posts = &reply.body["data"]["posts"];
        titles.extend(
            posts["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_string()),
        );
        if posts["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = posts["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(titles, ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);
    let reply = app
        .post_graphql(r#"{ posts(after: "nope") { nodes { id } } }"#, &[])
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let reply = app
        .post_graphql("{ posts(first: 1000) { nodes { id } } }", &[])
        .await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
}
