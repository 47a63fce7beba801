//! Machine callers (ARCHITECTURE §4, §5): API keys, M2M and OAuth access tokens, accepted as
//! `CLERK_ACCEPTED_TOKENS` says, verified with the fake Clerk once per token, and held to
//! `@auth(accepts:)` and `@scope`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_clerk::{
    UsersFault, api_key_json, clerk_user_json, m2m_token_json, oauth_token_json,
};
use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app, spawn_app_with};
use crate::tokens::{TestKey, now, session_claims};

const PRINCIPAL: &str = "{ viewer { kind subject userId scopes clientId } }";

const USER_KEY: &str = "ak_user_key_with_status_scope";
const ORG_KEY: &str = "ak_org_key_without_scopes";
const M2M_TOKEN: &str = "mt_machine_token";
const OAUTH_TOKEN: &str = "oat_access_token";

/// An app accepting `accepted`, and a fake Clerk that knows one token of each kind.
async fn app_accepting(accepted: &str) -> TestApp {
    let app = spawn_app_with(AppOptions::default().var("CLERK_ACCEPTED_TOKENS", accepted)).await;
    let in_an_hour = Some((now() + 3600) * 1000);
    app.clerk.add_machine_token(
        USER_KEY,
        api_key_json("ak_1", "user_k", &["status:read"], in_an_hour),
    );
    app.clerk
        .add_machine_token(ORG_KEY, api_key_json("ak_2", "org_k", &[], None));
    app.clerk.add_machine_token(
        M2M_TOKEN,
        m2m_token_json("mt_1", "mch_k", &["status:read"], in_an_hour),
    );
    app.clerk.add_machine_token(
        OAUTH_TOKEN,
        oauth_token_json("oat_1", "user_k", "client_k", &["profile"]),
    );
    app
}

async fn with_bearer(app: &TestApp, query: &str, token: &str) -> GraphqlReply {
    let header = format!("Bearer {token}");
    app.post_graphql(query, &[("authorization", &header)]).await
}

#[track_caller]
fn assert_service_unavailable(reply: &GraphqlReply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert_eq!(reply.reason(), Some("clerk_unavailable"));
    assert!(reply.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn each_opaque_kind_is_one_principal_when_accepted() {
    let app = app_accepting("any").await;
    let viewer = |reply: &GraphqlReply| {
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        reply.body["data"]["viewer"].clone()
    };
    let key = viewer(&with_bearer(&app, PRINCIPAL, USER_KEY).await);
    assert_eq!(
        key,
        json!({"kind": "API_KEY", "subject": "user_k", "userId": "user_k",
               "scopes": ["status:read"], "clientId": null})
    );
    let org = viewer(&with_bearer(&app, PRINCIPAL, ORG_KEY).await);
    assert_eq!(org["subject"], json!("org_k"));
    let m2m = viewer(&with_bearer(&app, PRINCIPAL, M2M_TOKEN).await);
    assert_eq!(
        m2m,
        json!({"kind": "M2M", "subject": "mch_k", "userId": "mch_k",
               "scopes": ["status:read"], "clientId": null})
    );
    let oauth = viewer(&with_bearer(&app, PRINCIPAL, OAUTH_TOKEN).await);
    assert_eq!(
        oauth,
        json!({"kind": "OAUTH", "subject": "user_k", "userId": "user_k",
               "scopes": ["profile"], "clientId": "client_k"})
    );
    // A session is still a session, with no scopes.
    let session = TestKey::primary().sign(&session_claims("user_s"));
    let session = viewer(&with_bearer(&app, PRINCIPAL, &session).await);
    assert_eq!(session["kind"], json!("SESSION"));
    assert_eq!(session["scopes"], json!([]));
    assert_eq!(app.clerk.machine_token_calls(), 4);
}

#[tokio::test]
async fn a_kind_not_accepted_is_a_type_mismatch_without_a_clerk_call() {
    // The default accepts session tokens only.
    let app = app_accepting("session_token").await;
    for token in [USER_KEY, M2M_TOKEN, OAUTH_TOKEN] {
        with_bearer(&app, PRINCIPAL, token)
            .await
            .assert_refused("token_type_mismatch");
    }
    let app = app_accepting("api_key").await;
    for token in [M2M_TOKEN, OAUTH_TOKEN] {
        with_bearer(&app, PRINCIPAL, token)
            .await
            .assert_refused("token_type_mismatch");
    }
    // Nor is a session accepted when only API keys are.
    let session = TestKey::primary().sign(&session_claims("user_s"));
    with_bearer(&app, PRINCIPAL, &session)
        .await
        .assert_refused("token_type_mismatch");
    assert_eq!(app.clerk.machine_token_calls(), 0);
}

#[tokio::test]
async fn a_machine_token_in_a_cookie_is_refused_without_a_clerk_call() {
    let app = app_accepting("any").await;
    for token in [USER_KEY, M2M_TOKEN, OAUTH_TOKEN] {
        let cookie = format!("__session={token}");
        app.post_graphql(PRINCIPAL, &[("cookie", &cookie)])
            .await
            .assert_refused("token_type_mismatch");
    }
    assert_eq!(app.clerk.machine_token_calls(), 0);
}

#[tokio::test]
async fn unknown_revoked_and_expired_tokens_are_401() {
    let app = app_accepting("any").await;
    for token in ["ak_unknown", "mt_unknown", "oat_unknown"] {
        with_bearer(&app, PRINCIPAL, token)
            .await
            .assert_refused("machine_token_invalid");
    }
    let expired = "ak_expired";
    app.clerk.add_machine_token(
        expired,
        api_key_json("ak_3", "user_k", &[], Some((now() - 10) * 1000)),
    );
    with_bearer(&app, PRINCIPAL, expired)
        .await
        .assert_refused("machine_token_invalid");
    // An M2M token presented to the API-key endpoint is unknown there (kinds are not mixed up).
    app.clerk.revoke_machine_token(M2M_TOKEN);
    with_bearer(&app, PRINCIPAL, M2M_TOKEN)
        .await
        .assert_refused("machine_token_invalid");
}

#[tokio::test]
async fn our_wrong_secret_key_is_503_not_401() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("CLERK_ACCEPTED_TOKENS", "session_token,api_key")
            .var("CLERK_SECRET_KEY", "sk_test_not_the_fake_clerks_secret"),
    )
    .await;
    app.clerk
        .add_machine_token(USER_KEY, api_key_json("ak_1", "user_k", &[], None));
    assert_service_unavailable(&with_bearer(&app, PRINCIPAL, USER_KEY).await);
    assert_eq!(app.clerk.machine_token_calls(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn clerk_down_rate_limiting_or_hanging_is_503_and_not_remembered() {
    let app = app_accepting("any").await;
    app.clerk.fail_machine_tokens_with(UsersFault::Status(500));
    assert_service_unavailable(&with_bearer(&app, PRINCIPAL, USER_KEY).await);
    app.clerk.fail_machine_tokens_with(UsersFault::RateLimited {
        retry_after_secs: 30,
    });
    assert_service_unavailable(&with_bearer(&app, PRINCIPAL, M2M_TOKEN).await);
    app.clerk.fail_machine_tokens_with(UsersFault::Hang);
    let started = Instant::now();
    assert_service_unavailable(&with_bearer(&app, PRINCIPAL, OAUTH_TOKEN).await);
    assert!(started.elapsed() < Duration::from_secs(10), "bounded wait");
    // Back up: the failures were not cached, the tokens work.
    app.clerk.fail_machine_tokens_with(UsersFault::None);
    let reply = with_bearer(&app, PRINCIPAL, USER_KEY).await;
    assert_eq!(reply.body["data"]["viewer"]["kind"], json!("API_KEY"));
}

#[tokio::test]
async fn one_key_costs_one_clerk_call_for_a_hundred_requests() {
    let app = app_accepting("api_key").await;
    // 50 at once (coalesced into one verification), then 50 one after the other.
    let concurrent = join_all((0..50).map(|_| with_bearer(&app, PRINCIPAL, USER_KEY))).await;
    for reply in concurrent {
        assert_eq!(reply.body["data"]["viewer"]["subject"], json!("user_k"));
    }
    for _ in 0..50 {
        let reply = with_bearer(&app, PRINCIPAL, USER_KEY).await;
        assert_eq!(reply.body["data"]["viewer"]["subject"], json!("user_k"));
    }
    assert_eq!(app.clerk.machine_token_calls(), 1);
    // A refusal is remembered too.
    for _ in 0..5 {
        with_bearer(&app, PRINCIPAL, "ak_unknown")
            .await
            .assert_refused("machine_token_invalid");
    }
    assert_eq!(app.clerk.machine_token_calls(), 2);
}

#[tokio::test]
async fn without_machine_kinds_configured_the_server_accepts_sessions_as_before() {
    let app = spawn_app().await;
    let session = TestKey::primary().sign(&session_claims("user_s"));
    with_bearer(&app, PRINCIPAL, &session)
        .await
        .assert_signed_in_as("user_s");
}

const STATUS: &str = "{ serviceStatus { version databaseReachable } }";

#[tokio::test]
async fn scope_marks_admit_only_tokens_granting_the_scope() {
    let app = app_accepting("any").await;
    // Granted: the API key and the M2M token carry `status:read`; aliases and fragments too.
    for token in [USER_KEY, M2M_TOKEN] {
        let reply = with_bearer(&app, STATUS, token).await;
        assert_eq!(
            reply.body["data"]["serviceStatus"]["databaseReachable"],
            json!(true),
            "{}",
            reply.body
        );
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        let reply = with_bearer(
            &app,
            "{ s: serviceStatus { ...F } } fragment F on ServiceStatus { v: version }",
            token,
        )
        .await;
        assert_eq!(
            reply.body["data"]["s"]["v"],
            json!(env!("CARGO_PKG_VERSION"))
        );
    }
    // Not granted: the organisation's key, the OAuth token, a session (no scopes), anonymous.
    let session = TestKey::primary().sign(&session_claims("user_s"));
    for token in [ORG_KEY, OAUTH_TOKEN, session.as_str()] {
        for query in [
            STATUS,
            "{ a: serviceStatus { ... on ServiceStatus { version } } }",
        ] {
            let reply = with_bearer(&app, query, token).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
            let field = reply.body["errors"][0]["path"][0].clone();
            assert_eq!(reply.body["data"][field.as_str().unwrap()], Value::Null);
        }
    }
    let reply = app.post_graphql(STATUS, &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn machines_reach_only_fields_that_accept_them() {
    let app = app_accepting("any").await;
    app.clerk
        .add_users(vec![clerk_user_json("user_k", Some("admin"))]);
    // `me` accepts the user's API key: the user's own row, personal data included.
    let me = "{ me { id email } }";
    let reply = with_bearer(&app, me, USER_KEY).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(reply.body["data"]["me"]["id"], json!("user_k"));
    assert_eq!(
        reply.body["data"]["me"]["email"],
        json!("user_k@example.com")
    );
    // An organisation's key is no user.
    let reply = with_bearer(&app, me, ORG_KEY).await;
    assert_eq!(reply.body["data"]["me"], Value::Null, "{}", reply.body);
    // M2M and OAuth are not accepted there.
    for token in [M2M_TOKEN, OAUTH_TOKEN] {
        let reply = with_bearer(&app, me, token).await;
        assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    }
    // Plain `@auth` means a session; `@role` / `@permission` refuse machines, even an API key
    // whose claims say `metadata.role: admin` and whose user is an admin in Clerk.
    for query in [
        "{ memberNote { text } }",
        "{ adminNote { text } }",
        "{ billingNote { text } }",
        "{ note(id: \"admin\") { ... on AdminNote { text } } }",
        "{ users { nodes { id } } }",
    ] {
        for token in [USER_KEY, M2M_TOKEN, OAUTH_TOKEN] {
            let reply = with_bearer(&app, query, token).await;
            assert_eq!(reply.code(), Some("FORBIDDEN"), "{query}: {}", reply.body);
        }
    }
    let reply = with_bearer(&app, "{ viewer { role } }", USER_KEY).await;
    assert_eq!(reply.body["data"]["viewer"]["role"], Value::Null);
}

pub const MACHINE_ID: &str = "mch_thisserver";

/// An M2M token in JWT form for [`MACHINE_ID`], from `mch_caller`, with `changes` to its claims.
pub fn m2m_jwt(changes: Value) -> String {
    let now = now();
    let claims = crate::tokens::with(
        json!({
            "iss": crate::tokens::ISSUER, "sub": "mch_caller", "aud": [MACHINE_ID, "mch_other"],
            "jti": "mt_jwt_1", "scopes": "status:read reports:write",
            "iat": now, "nbf": now - 10, "exp": now + 300,
        }),
        changes,
    );
    let key = TestKey::primary();
    key.sign_with_header(
        &json!({"alg": "RS256", "kid": key.kid, "typ": "JWT", "cat": "cl_B7d4PD333AAA"}),
        &claims,
    )
}

fn oauth_jwt(changes: Value) -> String {
    let now = now();
    let claims = crate::tokens::with(
        json!({
            "iss": crate::tokens::ISSUER, "sub": "user_o", "client_id": "client_o",
            "jti": "oat_jwt_1", "scope": "profile status:read", "iat": now, "exp": now + 300,
        }),
        changes,
    );
    let key = TestKey::primary();
    key.sign_with_header(
        &json!({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}),
        &claims,
    )
}

#[tokio::test]
async fn machine_jwts_are_verified_with_the_instance_keys_without_a_clerk_call() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("CLERK_ACCEPTED_TOKENS", "m2m_token,oauth_token")
            .var("CLERK_MACHINE_ID", MACHINE_ID),
    )
    .await;
    let reply = with_bearer(&app, PRINCIPAL, &m2m_jwt(json!({}))).await;
    assert_eq!(
        reply.body["data"]["viewer"],
        json!({"kind": "M2M", "subject": "mch_caller", "userId": "mch_caller",
               "scopes": ["status:read", "reports:write"], "clientId": null}),
        "{}",
        reply.body
    );
    let reply = with_bearer(&app, STATUS, &m2m_jwt(json!({}))).await;
    assert_eq!(
        reply.body["data"]["serviceStatus"]["databaseReachable"],
        json!(true)
    );

    let reply = with_bearer(&app, PRINCIPAL, &oauth_jwt(json!({}))).await;
    assert_eq!(
        reply.body["data"]["viewer"],
        json!({"kind": "OAUTH", "subject": "user_o", "userId": "user_o",
               "scopes": ["profile", "status:read"], "clientId": "client_o"}),
        "{}",
        reply.body
    );
    // `scp` as a list wins over `scope`.
    let reply = with_bearer(&app, PRINCIPAL, &oauth_jwt(json!({"scp": ["a", "b"]}))).await;
    assert_eq!(reply.body["data"]["viewer"]["scopes"], json!(["a", "b"]));

    // Refusals: audience without us, expired, another instance's issuer (OAuth), a forged
    // signature, a session-shaped subject under the M2M `cat`.
    for (token, reason) in [
        (
            m2m_jwt(json!({"aud": ["mch_other"]})),
            "token_invalid_audience",
        ),
        (m2m_jwt(json!({"aud": null})), "token_invalid_audience"),
        (m2m_jwt(json!({"exp": now() - 60})), "token_expired"),
        (m2m_jwt(json!({"sub": "user_x"})), "token_type_mismatch"),
        (
            oauth_jwt(json!({"iss": "https://other.clerk.accounts.dev"})),
            "token_invalid_issuer",
        ),
        (oauth_jwt(json!({"exp": now() - 60})), "token_expired"),
    ] {
        with_bearer(&app, PRINCIPAL, &token)
            .await
            .assert_refused(reason);
    }
    let forged = {
        let key = TestKey::secondary();
        let claims = json!({"sub": "mch_caller", "aud": MACHINE_ID, "exp": now() + 60});
        key.sign_with_header(
            &json!({"alg": "RS256", "kid": TestKey::primary().kid, "cat": "cl_B7d4PD333AAA"}),
            &claims,
        )
    };
    with_bearer(&app, PRINCIPAL, &forged)
        .await
        .assert_refused("token_invalid_signature");
    // Sessions are not accepted by this configuration.
    let session = TestKey::primary().sign(&session_claims("user_s"));
    with_bearer(&app, PRINCIPAL, &session)
        .await
        .assert_refused("token_type_mismatch");
    assert_eq!(app.clerk.machine_token_calls(), 0);
}

#[tokio::test]
async fn without_our_machine_id_an_m2m_jwt_is_refused() {
    let app = app_accepting("any").await;
    with_bearer(&app, PRINCIPAL, &m2m_jwt(json!({})))
        .await
        .assert_refused("token_invalid_audience");
    // And where M2M is not accepted, it is a type mismatch, as before.
    let app = app_accepting("session_token,oauth_token").await;
    with_bearer(&app, PRINCIPAL, &m2m_jwt(json!({})))
        .await
        .assert_refused("token_type_mismatch");
}

#[tokio::test]
async fn a_spray_of_random_api_keys_costs_a_handful_of_clerk_calls() {
    let app = app_accepting("api_key").await;
    // A key this address used before the spray (verified, so cached).
    let reply = with_bearer(&app, PRINCIPAL, USER_KEY).await;
    assert_eq!(reply.body["data"]["viewer"]["subject"], json!("user_k"));
    let mut refused = 0;
    let mut locked_out = 0;
    for i in 0..1000 {
        let reply = with_bearer(&app, PRINCIPAL, &format!("ak_random_{i:04}")).await;
        match reply.status {
            StatusCode::UNAUTHORIZED => {
                reply.assert_refused("machine_token_invalid");
                refused += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.reason(), Some("auth_lockout"), "{}", reply.body);
                assert!(reply.headers.contains_key("retry-after"));
                locked_out += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    // The known key plus at most a handful of unknown ones reached Clerk.
    let calls = app.clerk.machine_token_calls();
    assert!(calls <= 1 + 5, "{calls} verify calls");
    assert_eq!(refused + locked_out, 1000);
    assert!(locked_out >= 990, "{locked_out} locked out");
    // The known key still works from that address; a new valid one waits for the lockout.
    let reply = with_bearer(&app, PRINCIPAL, USER_KEY).await;
    assert_eq!(
        reply.body["data"]["viewer"]["subject"],
        json!("user_k"),
        "{}",
        reply.body
    );
    let reply = with_bearer(&app, PRINCIPAL, ORG_KEY).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.clerk.machine_token_calls(), calls);
}

/// `CLERK_ACCEPTED_TOKENS` holds on sockets too: where sessions are not accepted, a session token
/// in `connection_init` closes the socket like any refused credential (4403).
#[tokio::test]
async fn a_socket_refuses_a_session_where_sessions_are_not_accepted() {
    let app = app_accepting("api_key").await;
    let session = TestKey::primary().sign(&session_claims("user_s"));
    let payload = json!({"Authorization": format!("Bearer {session}")});
    let mut socket = crate::ws_client::connect(&app, "graphql-transport-ws", None).await;
    crate::ws_client::send(
        &mut socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    assert_eq!(crate::ws_client::close_code(&mut socket).await, Some(4403));

    // Where they are, the same token signs the socket in (`signed_in` waits for the ack).
    let app = app_accepting("session_token,api_key").await;
    crate::ws_client::signed_in(&app, payload).await;
}

/// A user's API key and an OAuth token acting for a user end with the user: `user.deleted` refuses
/// them at once, the cached API key included; a machine's own token is not the user's.
#[tokio::test]
async fn a_deleted_users_api_key_and_oauth_tokens_are_refused_at_once() {
    let app = app_accepting("any").await;
    let oauth = oauth_jwt(json!({"sub": "user_k"}));
    for token in [USER_KEY, OAUTH_TOKEN, oauth.as_str(), M2M_TOKEN] {
        let reply = with_bearer(&app, PRINCIPAL, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    }
    let calls = app.clerk.machine_token_calls();

    let deleted = json!({"id": "user_k", "deleted": true, "object": "user"});
    let response = app
        .deliver(
            "msg_del_k",
            &crate::webhooks_sign::event("user.deleted", deleted),
        )
        .await;
    assert_eq!(response.status(), 204);
    for token in [USER_KEY, OAUTH_TOKEN, oauth.as_str()] {
        with_bearer(&app, PRINCIPAL, token)
            .await
            .assert_refused("session_revoked");
    }
    // The machine of the M2M token is nobody's user.
    let reply = with_bearer(&app, PRINCIPAL, M2M_TOKEN).await;
    assert_eq!(reply.body["data"]["viewer"]["subject"], json!("mch_k"));
    assert_eq!(
        app.clerk.machine_token_calls(),
        calls,
        "answered from the cache"
    );
}
