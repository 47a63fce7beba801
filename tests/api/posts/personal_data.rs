//! The personal-data rule (`personal_data.rs`) on the posts slice's ways to a `User`: a post's
//! `author` in a page, by id, aliased, over `GET`, in a page of 50 authors, and in subscription
//! payloads.

use std::time::Duration;

use chrono::Utc;
use clerk_graphql::posts::{NewPost, store};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{GraphqlReply, TestApp};
use crate::personal_data::{
    OWNER, PERSONAL, Path, VIEWERS, Who, check_every_viewer, full_profile, path, post_as,
    public_profile, seed_user, selection, spawn,
};
use crate::test_db::{Backend, on_every_backend};
use crate::ws_client::{Socket, connect, init, next, subscribe};

fn post_paths(post_id: &str) -> Vec<Path> {
    let fields = selection(false);
    vec![
        path(
            "posts { nodes { author } }",
            format!("{{ posts {{ nodes {{ author {{ {fields} }} }} }} }}"),
            "/posts/nodes/0/author",
            json!(["posts", "nodes", 0, "author"]),
            None,
            false,
        ),
        path(
            "post(id).author",
            format!(r#"{{ post(id: "{post_id}") {{ author {{ {fields} }} }} }}"#),
            "/post/author",
            json!(["post", "author"]),
            None,
            false,
        ),
        Path {
            aliased: true,
            ..path(
                "aliases and fragments",
                format!(
                    "{{ list: posts {{ nodes {{ ... on Post {{ writer: author {{ ...Person }} }} }} }} }} \
                     fragment Person on User {{ {} }}",
                    selection(true)
                ),
                "/list/nodes/0/writer",
                json!(["list", "nodes", 0, "writer"]),
                None,
                false,
            )
        },
        Path {
            over_get: true,
            ..path(
                "GET post(id).author",
                format!(r#"{{ post(id: "{post_id}") {{ author {{ {fields} }} }} }}"#),
                "/post/author",
                json!(["post", "author"]),
                None,
                false,
            )
        },
    ]
}

async fn every_viewer_path_through_posts(backend: Backend) {
    let app = spawn(backend).await;
    let db = app.database.connect().await;
    let post_id = seed_post(&db, OWNER).await;
    check_every_viewer(&app, post_paths(&post_id)).await;
}

on_every_backend!(
    every_viewer_path_through_posts,
    a_page_of_50_authors_costs_one_role_lookup,
);

async fn seed_post(db: &DatabaseConnection, author: &str) -> String {
    let post = NewPost {
        title: format!("by {author}"),
        body: String::new(),
        published: true,
    };
    store::create(db, author, post, Utc::now())
        .await
        .unwrap()
        .id
        .to_string()
}

/// A page of 50 authors read by someone who is none of them costs one role lookup in Clerk for
/// the whole page (the viewer's role, batched and cached), not one per author or per field.
async fn a_page_of_50_authors_costs_one_role_lookup(backend: Backend) {
    let app = spawn(backend).await;
    let db = app.database.connect().await;
    for i in 0..50 {
        let author = format!("user_author_{i:02}");
        seed_user(&db, clerk_user_json(&author, None)).await;
        seed_post(&db, &author).await;
    }
    let query = "{ posts(first: 50) { nodes { author { id displayName email firstName publicMetadata } } } }";
    let authors = |reply: &GraphqlReply| -> Vec<Value> {
        let nodes = reply.body["data"]["posts"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 50, "{}", reply.body);
        nodes.iter().map(|node| node["author"].clone()).collect()
    };

    let calls = app.clerk.users_calls();
    let reply = post_as(&app, Who::Other, query).await;
    assert_eq!(
        app.clerk.users_calls() - calls,
        1,
        "one lookup of the viewer's role"
    );
    for author in authors(&reply) {
        assert_eq!(author["displayName"], "Ada L.", "{}", reply.body);
        assert_eq!(author["email"], Value::Null, "{}", reply.body);
    }
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 50 * 3);
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "FORBIDDEN")
    );

    let calls = app.clerk.users_calls();
    let reply = post_as(&app, Who::AdminByMetadata, query).await;
    assert_eq!(
        app.clerk.users_calls() - calls,
        1,
        "one lookup of the viewer's role"
    );
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    for author in authors(&reply) {
        let id = author["id"].as_str().unwrap();
        assert_eq!(author["email"], format!("{id}@example.com"));
    }

    // The role is cached beyond the request; anonymous viewers and role claims need no lookup.
    let calls = app.clerk.users_calls();
    for who in [
        Who::Other,
        Who::AdminByMetadata,
        Who::Anonymous,
        Who::AdminByClaim,
    ] {
        post_as(&app, who, query).await;
    }
    assert_eq!(app.clerk.users_calls(), calls);
}

/// `postPublished` (public) and `myPostEvents` (the viewer's own posts) carry the author: its
/// personal fields follow the same rule in every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_payloads_follow_the_rule() {
    let app = spawn(Backend::Sqlite).await;
    let fields = selection(false);
    let mut published: Vec<(Who, Socket)> = Vec::new();
    for who in VIEWERS {
        let mut socket = open_socket(&app, who).await;
        subscribe(
            &mut socket,
            "1",
            &format!("subscription {{ postPublished {{ author {{ {fields} }} }} }}"),
        )
        .await;
        published.push((who, socket));
    }
    let mut own = open_socket(&app, Who::Owner).await;
    subscribe(
        &mut own,
        "2",
        &format!("subscription {{ myPostEvents {{ post {{ author {{ {fields} }} }} }} }}"),
    )
    .await;
    let mut anonymous_own = open_socket(&app, Who::Anonymous).await;
    subscribe(
        &mut anonymous_own,
        "2",
        "subscription { myPostEvents { post { author { id } } } }",
    )
    .await;
    // Refused before it starts: graphql-transport-ws's `error` message.
    let refused = next(&mut anonymous_own).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // the streams are registered

    let create = r#"mutation { createPost(input: {title: "Live", published: true}) { id } }"#;
    let reply = post_as(&app, Who::Owner, create).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);

    for (who, socket) in &mut published {
        let message = next(socket).await.unwrap();
        let context = format!("postPublished as {who:?}: {message}");
        assert_eq!(message["type"], "next", "{context}");
        let author = &message["payload"]["data"]["postPublished"]["author"];
        let errors = message["payload"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if *who == Who::Owner || who.is_admin() {
            assert_eq!(author, &full_profile(Who::Owner), "{context}");
            assert!(errors.is_empty(), "{context}");
        } else {
            assert_eq!(author, &public_profile(Who::Owner), "{context}");
            assert_eq!(errors.len(), PERSONAL.len(), "{context}");
            for (error, field) in errors.iter().zip(PERSONAL) {
                assert_eq!(
                    error["path"],
                    json!(["postPublished", "author", field]),
                    "{context}"
                );
                assert_eq!(error["extensions"]["code"], who.denial(), "{context}");
            }
        }
    }
    // The owner's own events: CREATED, then PUBLISHED.
    for _ in 0..2 {
        let message = next(&mut own).await.unwrap();
        assert!(message["payload"].get("errors").is_none(), "{message}");
        assert_eq!(
            message["payload"]["data"]["myPostEvents"]["post"]["author"],
            full_profile(Who::Owner),
            "{message}"
        );
    }
}

async fn open_socket(app: &TestApp, who: Who) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws", None).await;
    let payload = match who.authorization() {
        Some(authorization) => json!({ "Authorization": authorization }),
        None => json!({}),
    };
    init(&mut socket, payload).await;
    socket
}
