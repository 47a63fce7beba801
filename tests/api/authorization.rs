//! Every mark × {anonymous, signed in without it, signed in with it} × every way of reaching the
//! field, as one table. The expected outcome is computed from ARCHITECTURE §5's rules, so the table
//! covers all combinations rather than hand-picked samples.

use serde_json::{Value, json};

use crate::helpers::{GraphqlReply, TestApp, spawn_app};
use crate::tokens::{TestKey, session_claims, with};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Auth,
    AppRole,
    OrgRole,
    Permission,
}

const MARKS: [Mark; 4] = [Mark::Auth, Mark::AppRole, Mark::OrgRole, Mark::Permission];

impl Mark {
    /// (query field, object type, example id)
    fn target(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Mark::Auth => ("memberNote", "MemberNote", "member"),
            Mark::AppRole => ("adminNote", "AdminNote", "admin"),
            Mark::OrgRole => ("orgAdminNote", "OrgAdminNote", "org-admin"),
            Mark::Permission => ("billingNote", "BillingNote", "billing"),
        }
    }
}

struct Viewer {
    name: &'static str,
    token: Option<String>,
    holds: Vec<Mark>,
}

fn viewers() -> Vec<Viewer> {
    let key = TestKey::primary();
    let org = |rol: &str, fpm: &str| json!({"v": 2, "fea": "o:billing", "o": {"id": "org_1", "slg": "acme", "rol": rol, "per": "manage", "fpm": fpm}});
    let token = |extra: Value| Some(key.sign(&with(session_claims("user_t"), extra)));
    vec![
        Viewer {
            name: "anonymous",
            token: None,
            holds: vec![],
        },
        Viewer {
            name: "signed in",
            token: token(json!({"metadata": {"role": "member"}})),
            holds: vec![Mark::Auth],
        },
        Viewer {
            name: "app admin",
            token: token(json!({"metadata": {"role": "admin"}})),
            holds: vec![Mark::Auth, Mark::AppRole],
        },
        Viewer {
            name: "org admin",
            token: token(with(
                org("admin", "0"),
                json!({"metadata": {"role": "member"}}),
            )),
            holds: vec![Mark::Auth, Mark::OrgRole],
        },
        Viewer {
            name: "billing manager",
            token: token(with(
                org("member", "1"),
                json!({"metadata": {"role": "member"}}),
            )),
            holds: vec![Mark::Auth, Mark::Permission],
        },
        Viewer {
            name: "holds everything",
            token: token(with(
                org("admin", "1"),
                json!({"metadata": {"role": "admin"}}),
            )),
            holds: MARKS.to_vec(),
        },
    ]
}

#[derive(Debug, Clone, Copy)]
enum Access {
    Direct,
    Alias,
    NamedFragment,
    InlineFragment,
    Interface,
    InterfaceWithTypeCondition,
    Union,
}

const ACCESSES: [Access; 7] = [
    Access::Direct,
    Access::Alias,
    Access::NamedFragment,
    Access::InlineFragment,
    Access::Interface,
    Access::InterfaceWithTypeCondition,
    Access::Union,
];

struct Case {
    query: String,
    /// Where the note's `{id text}` object lands in `data`.
    data_path: Vec<&'static str>,
    /// Path of the first error when denied.
    error_path: Value,
    /// Marks required along this access path.
    required: Vec<Mark>,
}

fn case(mark: Mark, access: Access) -> Case {
    let (field, ty, id) = mark.target();
    let (query, data_path, error_path, required) = match access {
        Access::Direct => (
            format!("{{ {field} {{ id text }} health }}"),
            vec![field],
            json!([field]),
            vec![mark],
        ),
        Access::Alias => (
            format!("{{ renamed: {field} {{ id text }} health }}"),
            vec!["renamed"],
            json!(["renamed"]),
            vec![mark],
        ),
        Access::NamedFragment => (
            format!(
                "query {{ ...Notes health }} fragment Notes on Query {{ {field} {{ id text }} }}"
            ),
            vec![field],
            json!([field]),
            vec![mark],
        ),
        Access::InlineFragment => (
            format!("{{ ... on Query {{ {field} {{ ... on {ty} {{ id text }} }} }} health }}"),
            vec![field],
            json!([field]),
            vec![mark],
        ),
        // Through the interface a field requires the AND of all implementors' marks.
        Access::Interface => (
            format!(r#"{{ node(id: "{id}") {{ id text }} health }}"#),
            vec!["node"],
            json!(["node", "id"]),
            MARKS.to_vec(),
        ),
        Access::InterfaceWithTypeCondition => (
            format!(r#"{{ node(id: "{id}") {{ ... on {ty} {{ id text }} }} health }}"#),
            vec!["node"],
            json!(["node", "id"]),
            vec![mark],
        ),
        Access::Union => (
            format!(r#"{{ note(id: "{id}") {{ ... on {ty} {{ id text }} }} health }}"#),
            vec!["note"],
            json!(["note", "id"]),
            vec![mark],
        ),
    };
    Case {
        query,
        data_path,
        error_path,
        required,
    }
}

async fn run(app: &TestApp, viewer: &Viewer, query: &str) -> GraphqlReply {
    match &viewer.token {
        Some(token) => {
            let header = format!("Bearer {token}");
            app.post_graphql(query, &[("authorization", &header)]).await
        }
        None => app.post_graphql(query, &[]).await,
    }
}

#[tokio::test]
async fn every_mark_viewer_and_access_path() {
    let app = spawn_app().await;
    let mut checked = 0;
    for viewer in viewers() {
        for mark in MARKS {
            for access in ACCESSES {
                let case = case(mark, access);
                let reply = run(&app, &viewer, &case.query).await;
                let context = format!("{} / {mark:?} / {access:?}: {}", viewer.name, reply.body);
                assert_eq!(reply.status, 200, "{context}");
                assert_eq!(
                    reply.body["data"]["health"], "ok",
                    "other fields still served: {context}"
                );

                let allowed = case.required.iter().all(|m| viewer.holds.contains(m));
                let mut data = &reply.body["data"];
                for segment in &case.data_path {
                    data = &data[segment];
                }
                let (_, _, id) = mark.target();
                if allowed {
                    assert!(reply.body.get("errors").is_none(), "{context}");
                    assert_eq!(
                        data,
                        &json!({"id": id, "text": format!("the {id} note")}),
                        "{context}"
                    );
                } else {
                    let expected_code = if viewer.token.is_none() {
                        "UNAUTHENTICATED"
                    } else {
                        "FORBIDDEN"
                    };
                    let error = &reply.body["errors"][0];
                    assert_eq!(error["extensions"]["code"], expected_code, "{context}");
                    assert_eq!(error["path"], case.error_path, "{context}");
                    assert!(error["locations"][0]["line"].is_number(), "{context}");
                    assert_eq!(data, &Value::Null, "denied field is null: {context}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 4 * 7);
}

#[tokio::test]
async fn public_fields_of_an_interface_follow_the_and_rule() {
    let app = spawn_app().await;
    let anonymous = app
        .post_graphql(
            r#"{ node(id: "public") { id } note(id: "public") { ... on PublicNote { id } } }"#,
            &[],
        )
        .await;
    // Through the union the public note is readable; through the interface `Node.id` needs
    // what every implementor needs.
    assert_eq!(anonymous.body["data"]["note"], json!({"id": "public"}));
    assert_eq!(anonymous.body["data"]["node"], Value::Null);
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
    // The type name is introspection, not data: it stays readable.
    let typename = app
        .post_graphql(r#"{ node(id: "admin") { __typename } }"#, &[])
        .await;
    assert_eq!(typename.body["data"]["node"]["__typename"], "AdminNote");
}

#[tokio::test]
async fn guarded_mutation_never_runs_for_anonymous_callers() {
    let app = spawn_app().await;
    let reply = app
        .post_graphql(r#"mutation { echo(message: "hi") }"#, &[])
        .await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    assert_eq!(reply.body["errors"][0]["path"], json!(["echo"]));
    assert_eq!(reply.body["data"], Value::Null);

    let token = TestKey::primary().sign(&session_claims("user_m"));
    let header = format!("Bearer {token}");
    let reply = app
        .post_graphql(
            r#"mutation { first: echo(message: "hi") second: echo(message: "again") }"#,
            &[("authorization", &header)],
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"first": "user_m: hi", "second": "user_m: again"})
    );
}

#[test]
fn marks_are_in_the_sdl() {
    let sdl = clerk_graphql::schema::sdl();
    for expected in [
        "directive @auth(accepts: [ViewerKind!]) on FIELD_DEFINITION | OBJECT",
        "directive @scope(name: String!) on FIELD_DEFINITION | OBJECT",
        "type ServiceStatus @scope(name: \"status:read\")",
        "me: User @auth(accepts: [SESSION, API_KEY])",
        "directive @role(name: String!) on FIELD_DEFINITION | OBJECT",
        "directive @permission(name: String!) on FIELD_DEFINITION | OBJECT",
        "type MemberNote implements Node @auth",
        "type AdminNote implements Node @role(name: \"admin\")",
        "type OrgAdminNote implements Node @role(name: \"org:admin\")",
        "type BillingNote implements Node @permission(name: \"org:billing:manage\")",
        "echo(message: String!): String! @auth",
        "directive @ownerOrRole(role: String!) on FIELD_DEFINITION",
        "email: String @ownerOrRole(role: \"admin\")",
        "publicMetadata: JSON @ownerOrRole(role: \"admin\")",
        "profile: ClerkUser @role(name: \"admin\")",
    ] {
        assert!(sdl.contains(expected), "SDL lacks `{expected}`:\n{sdl}");
    }
}
