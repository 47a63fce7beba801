//! Personal data (issue 14, point 5): a user's email, username, names, image, Clerk timestamps and
//! public metadata are readable by the user themself and by holders of the app role `admin`
//! (`@ownerOrRole(role: "admin")`); anyone else sees the public profile (`id`, `displayName`) and
//! `null` with an error for each personal field. Viewers × access paths × fields, values asserted;
//! every `@ownerOrRole` field of the SDL proven enforced; role lookups cached per request.

use chrono::Utc;
use clerk_graphql::clerk::ClerkUser;
use clerk_graphql::users::apply_snapshot;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::fake_clerk::{UsersFault, clerk_user_json};
use crate::helpers::{GraphqlReply, TestApp, spawn_app_on};
use crate::test_db::{Backend, on_every_backend};
use crate::tokens::{TestKey, session_claims, with};

/// The personal fields of `User`, as the SDL marks them.
pub(crate) const PERSONAL: [&str; 8] = [
    "email",
    "username",
    "firstName",
    "lastName",
    "imageUrl",
    "createdAt",
    "updatedAt",
    "publicMetadata",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Anonymous,
    /// Another signed-in user (app role `member` in Clerk, no role claim).
    Other,
    /// The user whose data is read (app role `member` in Clerk, no role claim).
    Owner,
    /// `admin` in the session claim `metadata.role`.
    AdminByClaim,
    /// `admin` in Clerk's `public_metadata.role`, no role claim: looked up in Clerk.
    AdminByMetadata,
}

pub(crate) const VIEWERS: [Who; 5] = [
    Who::Anonymous,
    Who::Other,
    Who::Owner,
    Who::AdminByClaim,
    Who::AdminByMetadata,
];

pub(crate) const OWNER: &str = "user_owner";

impl Who {
    fn user_id(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::Other => Some("user_other"),
            Who::Owner => Some(OWNER),
            Who::AdminByClaim => Some("user_admin_claim"),
            Who::AdminByMetadata => Some("user_admin_metadata"),
        }
    }

    /// `public_metadata.role` of the user in Clerk (and so in the `users` table).
    fn clerk_role(self) -> Option<&'static str> {
        match self {
            Who::AdminByMetadata => Some("admin"),
            Who::AdminByClaim => None,
            _ => Some("member"),
        }
    }

    pub(crate) fn is_admin(self) -> bool {
        matches!(self, Who::AdminByClaim | Who::AdminByMetadata)
    }

    /// A session token; sid `sess_<user id>`, as the WebSocket client's tokens.
    fn token(self) -> Option<String> {
        let user_id = self.user_id()?;
        let mut claims = with(
            session_claims(user_id),
            json!({"sid": format!("sess_{user_id}")}),
        );
        if self == Who::AdminByClaim {
            claims = with(claims, json!({"metadata": {"role": "admin"}}));
        }
        Some(TestKey::primary().sign(&claims))
    }

    pub(crate) fn authorization(self) -> Option<String> {
        self.token().map(|token| format!("Bearer {token}"))
    }

    /// The code of a denied personal field of someone else's row.
    pub(crate) fn denial(self) -> &'static str {
        match self {
            Who::Anonymous => "UNAUTHENTICATED",
            _ => "FORBIDDEN",
        }
    }
}

/// The user as Clerk describes them; the username is set so that it is not null.
fn clerk_json(who: Who) -> Value {
    let id = who.user_id().unwrap();
    let mut user = clerk_user_json(id, who.clerk_role());
    user["username"] = json!(format!("{id}_name"));
    user
}

/// Everything `User` answers about `who` to someone allowed to read it.
pub(crate) fn full_profile(who: Who) -> Value {
    let id = who.user_id().unwrap();
    let metadata = match who.clerk_role() {
        Some(role) => json!({"role": role}),
        None => json!({}),
    };
    json!({
        "id": id,
        "displayName": "Ada L.",
        "email": format!("{id}@example.com"),
        "username": format!("{id}_name"),
        "firstName": "Ada",
        "lastName": format!("Lovelace {id}"),
        "imageUrl": format!("https://img.clerk.com/{id}.png"),
        "createdAt": "2024-05-28T08:00:00+00:00",
        "updatedAt": "2024-05-28T08:01:00+00:00",
        "publicMetadata": metadata,
    })
}

/// What anyone else gets: the public profile, every personal field null.
pub(crate) fn public_profile(who: Who) -> Value {
    let mut profile = full_profile(who);
    for field in PERSONAL {
        profile[field] = Value::Null;
    }
    profile
}

/// Every signed-in viewer is in Clerk and in the `users` table.
pub(crate) async fn spawn(backend: Backend) -> TestApp {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    for who in VIEWERS.into_iter().filter(|who| who.user_id().is_some()) {
        let user = clerk_json(who);
        app.clerk.add_users(vec![user.clone()]);
        seed_user(&db, user).await;
    }
    app
}

pub(crate) async fn seed_user(db: &DatabaseConnection, user: Value) {
    let user: ClerkUser = serde_json::from_value(user).unwrap();
    apply_snapshot(db, &user, Utc::now()).await.unwrap();
}

pub(crate) async fn post_as(app: &TestApp, who: Who, query: &str) -> GraphqlReply {
    let authorization = who.authorization();
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    app.post_graphql(query, &headers).await
}

pub(crate) async fn get_as(app: &TestApp, who: Who, query: &str) -> GraphqlReply {
    let url =
        reqwest::Url::parse_with_params(&format!("{}/graphql", app.address), [("query", query)])
            .unwrap();
    let mut request = app.client.get(url).header("accept", "application/json");
    if let Some(authorization) = who.authorization() {
        request = request.header("authorization", authorization);
    }
    GraphqlReply::read(request.send().await.unwrap()).await
}

/// `id displayName` and the personal fields; `alias` renames each field (`a_email: email`).
pub(crate) fn selection(alias: bool) -> String {
    std::iter::once("id")
        .chain(std::iter::once("displayName"))
        .chain(PERSONAL)
        .map(|field| {
            if alias {
                format!("a_{field}: {field}")
            } else {
                field.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An access path to a `User`.
pub(crate) struct Path {
    pub(crate) name: &'static str,
    pub(crate) query: String,
    /// JSON pointer to the `User` object in `data`.
    pub(crate) pointer: &'static str,
    /// The error path of a field of that `User`, without the field.
    pub(crate) error_path: Value,
    /// The root field's own mark, which may refuse the whole `User`.
    pub(crate) gate: Option<Gate>,
    /// `me`: the user read is the viewer; otherwise it is the owner.
    pub(crate) reads_viewer: bool,
    pub(crate) aliased: bool,
    pub(crate) over_get: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    SignedIn,
    Admin,
}

/// A `Path` that is neither aliased nor read over `GET`.
pub(crate) fn path(
    name: &'static str,
    query: String,
    pointer: &'static str,
    error_path: Value,
    gate: Option<Gate>,
    reads_viewer: bool,
) -> Path {
    Path {
        name,
        query,
        pointer,
        error_path,
        gate,
        reads_viewer,
        aliased: false,
        over_get: false,
    }
}

/// The users slice's ways to a `User`; the posts slice adds its own (`posts/personal_data.rs`).
fn user_paths() -> Vec<Path> {
    let fields = selection(false);
    vec![
        path(
            "user(id:)",
            format!(r#"{{ user(id: "{OWNER}") {{ {fields} }} }}"#),
            "/user",
            json!(["user"]),
            Some(Gate::SignedIn),
            false,
        ),
        path(
            "users",
            format!(r#"{{ users(search: "{OWNER}") {{ nodes {{ {fields} }} }} }}"#),
            "/users/nodes/0",
            json!(["users", "nodes", 0]),
            Some(Gate::Admin),
            false,
        ),
        path(
            "me",
            format!("{{ me {{ {fields} }} }}"),
            "/me",
            json!(["me"]),
            Some(Gate::SignedIn),
            true,
        ),
        Path {
            aliased: true,
            ..path(
                "aliases and fragments",
                format!(
                    r#"{{ someone: user(id: "{OWNER}") {{ ...Person }} }} fragment Person on User {{ {} }}"#,
                    selection(true)
                ),
                "/someone",
                json!(["someone"]),
                Some(Gate::SignedIn),
                false,
            )
        },
        Path {
            over_get: true,
            ..path(
                "GET user(id:)",
                format!(r#"{{ user(id: "{OWNER}") {{ {fields} }} }}"#),
                "/user",
                json!(["user"]),
                Some(Gate::SignedIn),
                false,
            )
        },
    ]
}

/// `profile` with each key renamed as the aliased selection answers it.
fn aliased(profile: Value) -> Value {
    let renamed = profile
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (format!("a_{key}"), value.clone()))
        .collect();
    Value::Object(renamed)
}

async fn every_viewer_path_and_field(backend: Backend) {
    let app = spawn(backend).await;
    check_every_viewer(&app, user_paths()).await;
}

/// Reads the owner's `User` through each path as each viewer: the full profile for the owner and
/// admins, the public profile with one error per personal field for the others.
pub(crate) async fn check_every_viewer(app: &TestApp, paths: Vec<Path>) {
    let expected = paths.len() * VIEWERS.len();
    let mut checked = 0;
    for path in paths {
        for who in VIEWERS {
            let reply = if path.over_get {
                get_as(app, who, &path.query).await
            } else {
                post_as(app, who, &path.query).await
            };
            let context = format!("{} as {who:?}: {}", path.name, reply.body);
            assert_eq!(reply.status, 200, "{context}");
            let user = reply.body["data"]
                .pointer(path.pointer)
                .cloned()
                .unwrap_or_default();
            let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();

            let refused = match (path.gate, who) {
                (Some(Gate::SignedIn | Gate::Admin), Who::Anonymous) => Some("UNAUTHENTICATED"),
                (Some(Gate::Admin), who) if !who.is_admin() => Some("FORBIDDEN"),
                _ => None,
            };
            if let Some(code) = refused {
                assert_eq!(user, Value::Null, "{context}");
                assert_eq!(errors.len(), 1, "{context}");
                assert_eq!(errors[0]["extensions"]["code"], code, "{context}");
                assert_eq!(errors[0]["path"], json!([path.error_path[0]]), "{context}");
                checked += 1;
                continue;
            }

            let whose = if path.reads_viewer { who } else { Who::Owner };
            let rename = |profile| {
                if path.aliased {
                    aliased(profile)
                } else {
                    profile
                }
            };
            if who == whose || who.is_admin() {
                assert_eq!(user, rename(full_profile(whose)), "{context}");
                assert!(errors.is_empty(), "{context}");
            } else {
                assert_eq!(user, rename(public_profile(whose)), "{context}");
                assert_eq!(errors.len(), PERSONAL.len(), "{context}");
                for (error, field) in errors.iter().zip(PERSONAL) {
                    let key = if path.aliased {
                        format!("a_{field}")
                    } else {
                        field.to_string()
                    };
                    let mut expected_path = path.error_path.as_array().unwrap().clone();
                    expected_path.push(json!(key));
                    assert_eq!(error["path"], json!(expected_path), "{context}");
                    assert_eq!(error["extensions"]["code"], who.denial(), "{context}");
                    assert!(error["locations"][0]["line"].is_number(), "{context}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, expected);
}

/// Clerk down: someone who needs the admin role to read another user's data learns that it could
/// not be checked (`SERVICE_UNAVAILABLE`, not `FORBIDDEN`); the owner, who needs no role, and an
/// admin by claim are served as usual.
async fn clerk_down_matters_only_to_a_role_lookup(backend: Backend) {
    let app = spawn(backend).await;
    app.clerk.fail_users_with(UsersFault::Status(500));
    let query = format!(r#"{{ user(id: "{OWNER}") {{ id email }} }}"#);
    let reply = post_as(&app, Who::Other, &query).await;
    assert_eq!(
        reply.body["data"],
        json!({"user": {"id": OWNER, "email": null}})
    );
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"), "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["path"], json!(["user", "email"]));
    let email = format!("{OWNER}@example.com");
    for who in [Who::Owner, Who::AdminByClaim] {
        let reply = post_as(&app, who, &query).await;
        assert!(
            reply.body.get("errors").is_none(),
            "{who:?}: {}",
            reply.body
        );
        assert_eq!(reply.body["data"]["user"]["email"], email);
    }
}

on_every_backend!(
    every_viewer_path_and_field,
    clerk_down_matters_only_to_a_role_lookup,
);

/// Every field the SDL marks `@ownerOrRole(role: …)`, as `(type, field, role)`; each nullable.
fn marked_fields() -> Vec<(String, String, String)> {
    let sdl = clerk_graphql::schema::sdl();
    let mut marked = Vec::new();
    let mut current_type = None;
    for line in sdl.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            current_type = rest.split_whitespace().next().map(str::to_string);
        } else if line == "}" {
            current_type = None;
        } else if let Some(ty) = &current_type
            && let Some((definition, mark)) = line.split_once("@ownerOrRole(role: \"")
        {
            // A denial is `null`: on a non-null field it would null the whole parent instead.
            assert!(
                !definition.trim_end().ends_with('!'),
                "must be nullable: {line}"
            );
            let field = definition.trim().split([':', '(']).next().unwrap();
            let role = mark.split('"').next().unwrap();
            marked.push((ty.clone(), field.to_string(), role.to_string()));
        }
    }
    marked
}

/// How each type with marked fields is reached in the walk below: `(query, pointer)` to a row
/// owned by [`OWNER`], as the owner reads it or as anyone else does. A type that gains a mark
/// must be added here (with such a row seeded in the walk).
fn reach(ty: &str, field: &str, as_owner: bool) -> (String, String) {
    match (ty, as_owner) {
        ("User", _) => (
            format!(r#"{{ user(id: "{OWNER}") {{ {field} }} }}"#),
            format!("/user/{field}"),
        ),
        // Only admins reach someone's `profile`; a user reaches their own through `viewer`.
        ("ClerkUser", true) => (
            format!("{{ viewer {{ profile {{ {field} }} }} }}"),
            format!("/viewer/profile/{field}"),
        ),
        ("ClerkUser", false) => (
            format!(r#"{{ user(id: "{OWNER}") {{ profile {{ {field} }} }} }}"#),
            format!("/user/profile/{field}"),
        ),
        _ => panic!("no way to reach `{ty}` in this test: add one to `reach`"),
    }
}

/// `Authorization` values of viewers who hold the app role `role` (and own nothing): by claim,
/// and for `admin` also by Clerk's `public_metadata.role`.
fn role_holders(role: &str) -> Vec<String> {
    assert!(!role.starts_with("org:"), "add an org token for `{role}`");
    let claims = with(
        session_claims("user_role_holder"),
        json!({"metadata": {"role": role}}),
    );
    let mut holders = vec![format!("Bearer {}", TestKey::primary().sign(&claims))];
    if role == "admin" {
        holders.extend(Who::AdminByMetadata.authorization());
    }
    holders
}

/// The walk: every marked field of the schema, whatever its type and role, is served to the owner
/// and to holders of the role, identically, and denied to another signed-in user (on the field, or
/// on the way to it). A mark without its `check_owner` fails the owner's read; a marked type with
/// no way to reach it fails the walk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marked_field_of_the_schema_is_enforced() {
    let marked = marked_fields();
    let user_fields: Vec<&str> = marked
        .iter()
        .filter(|(ty, _, role)| ty == "User" && role == "admin")
        .map(|(_, field, _)| field.as_str())
        .collect();
    assert_eq!(user_fields, PERSONAL, "the personal fields of `User`");
    assert!(marked.iter().any(|(ty, _, _)| ty == "ClerkUser"));

    let app = spawn(Backend::Sqlite).await;
    for (ty, field, role) in &marked {
        let read = |authorization: Option<String>, as_owner: bool| {
            let app = &app;
            async move {
                let (query, pointer) = reach(ty, field, as_owner);
                let headers: Vec<(&str, &str)> = authorization
                    .iter()
                    .map(|value| ("authorization", value.as_str()))
                    .collect();
                let reply = app.post_graphql(&query, &headers).await;
                let value = reply.body["data"].pointer(&pointer).cloned();
                (value.unwrap_or_default(), reply)
            }
        };
        let (owners, reply) = read(Who::Owner.authorization(), true).await;
        let context = format!("{ty}.{field} @ownerOrRole(role: {role:?})");
        assert!(
            reply.body.get("errors").is_none(),
            "{context}: {}",
            reply.body
        );
        for holder in role_holders(role) {
            let (value, reply) = read(Some(holder), false).await;
            assert!(
                reply.body.get("errors").is_none(),
                "{context}: {}",
                reply.body
            );
            assert_eq!(value, owners, "{context}");
        }
        let (value, reply) = read(Who::Other.authorization(), false).await;
        assert_eq!(value, Value::Null, "{context}: {}", reply.body);
        let (_, pointer) = reach(ty, field, false);
        let full_path: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        let denied_on_the_way =
            reply.body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|error| {
                    let path: Vec<&str> = error["path"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|segment| segment.as_str().unwrap())
                        .collect();
                    error["extensions"]["code"] == "FORBIDDEN" && full_path.starts_with(&path)
                });
        assert!(denied_on_the_way, "{context}: {}", reply.body);
    }
}
