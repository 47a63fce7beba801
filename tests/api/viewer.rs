//! Claims v1 and v2 normalised into one `Viewer`, as GraphQL shows it.

use serde_json::json;

use crate::helpers::spawn_app;
use crate::tokens::{TestKey, session_claims, with};

#[tokio::test]
async fn v2_claims_with_org_features_plan_actor_and_custom_claims() {
    let app = spawn_app().await;
    let claims = with(
        session_claims("user_v2"),
        json!({
            "v": 2,
            "pla": "o:pro",
            "fea": "o:dashboard,u:beta,o:teams",
            "o": {"id": "org_9", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3,2"},
            "act": {"sub": "user_support", "sid": "sess_support", "iss": "https://dashboard.clerk.com"},
            "metadata": {"role": "admin"},
            "tier": "gold"
        }),
    );
    let reply = app
        .viewer_with_bearer(&TestKey::primary().sign(&claims))
        .await;
    reply.assert_signed_in_as("user_v2");
    assert_eq!(
        reply.body["data"]["viewer"],
        json!({
            "userId": "user_v2",
            "sessionId": "sess_test_1",
            "orgId": "org_9",
            "orgSlug": "acme",
            "orgRole": "org:admin",
            "orgPermissions": ["org:dashboard:manage", "org:dashboard:read", "org:teams:read"],
            "actor": {"sub": "user_support", "sid": "sess_support", "iss": "https://dashboard.clerk.com"},
            "plan": "o:pro",
            "features": ["o:dashboard", "u:beta", "o:teams"],
            "claims": {"metadata": {"role": "admin"}, "tier": "gold"}
        })
    );
}

#[tokio::test]
async fn v1_org_claims_and_a_user_without_org() {
    let app = spawn_app().await;
    let claims = with(
        session_claims("user_v1"),
        json!({
            "org_id": "org_1", "org_slug": "acme", "org_role": "org:member",
            "org_permissions": ["org:billing:read"]
        }),
    );
    let reply = app
        .viewer_with_bearer(&TestKey::primary().sign(&claims))
        .await;
    let viewer = &reply.body["data"]["viewer"];
    assert_eq!(viewer["orgId"], "org_1");
    assert_eq!(viewer["orgRole"], "org:member");
    assert_eq!(viewer["orgPermissions"], json!(["org:billing:read"]));
    assert_eq!(viewer["claims"], json!({}));

    let reply = app
        .viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_plain")))
        .await;
    let viewer = &reply.body["data"]["viewer"];
    assert_eq!(viewer["orgId"], json!(null));
    assert_eq!(viewer["orgPermissions"], json!([]));
    assert_eq!(viewer["features"], json!([]));
    assert_eq!(viewer["actor"], json!(null));
}
