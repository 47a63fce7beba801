//! The signed-in user as the rest of the server sees it: Clerk's v1 and v2 session claims
//! normalised into one type, so that resolvers and directives never look at raw claims.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::org_permissions;
use crate::config::TokenKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub user_id: String,
    pub session_id: Option<String>,
    pub org: Option<ActiveOrganization>,
    /// The `act` claim while an admin impersonates the user.
    pub actor: Option<Value>,
    /// `pla`, e.g. `u:free` or `o:pro`.
    pub plan: Option<String>,
    /// `fea` entries with their scope, e.g. `o:dashboard`.
    pub features: Vec<String>,
    /// Every claim that is not one of Clerk's own (e.g. `metadata` from a customised token).
    pub custom_claims: Map<String, Value>,
    /// `exp`, in Unix seconds (`i64::MAX` for an API key that never expires).
    pub expires_at: i64,
    /// What authenticated the request: a user session, or a machine caller (ARCHITECTURE §4).
    /// For a machine, `user_id` holds the token's subject (`user_…`, `org_…` or `mch_…`).
    pub kind: TokenKind,
    /// The scopes a machine token grants; sessions carry none.
    pub scopes: Vec<String>,
    /// The OAuth application acting for the user (OAuth access tokens only).
    pub client_id: Option<String>,
}

/// What a valid token means.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    SignedIn(Arc<Viewer>),
    /// `sts: "pending"`: a real session with an unfinished task (e.g. choose an organisation).
    /// Clerk treats it as signed out; so do we.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrganization {
    pub id: String,
    pub slug: Option<String>,
    /// Always `org:`-prefixed, e.g. `org:admin`, whatever the token version.
    pub role: Option<String>,
    pub permissions: Vec<String>,
}

/// Claims Clerk defines; all others are custom claims (`Viewer::custom_claims`).
pub const CLERK_CLAIMS: &[&str] = &[
    "azp",
    "exp",
    "fva",
    "iat",
    "iss",
    "nbf",
    "sid",
    "sub",
    "act",
    "sts",
    "v",
    "jti",
    "pla",
    "fea",
    "o",
    "org_id",
    "org_slug",
    "org_role",
    "org_permissions",
    "aud",
];

impl Viewer {
    /// Builds the viewer from claims whose signature, `sub` and `exp` were already verified.
    pub fn from_verified_claims(
        user_id: String,
        expires_at: i64,
        claims: &Map<String, Value>,
    ) -> Self {
        let text = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_string);
        let is_v2 = claims.get("v").and_then(Value::as_i64) == Some(2);
        let org = if is_v2 {
            org_v2(claims)
        } else {
            org_v1(claims)
        };
        let features = text("fea")
            .map(|fea| {
                fea.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let custom_claims = claims
            .iter()
            .filter(|(key, _)| !CLERK_CLAIMS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Viewer {
            user_id,
            session_id: text("sid"),
            org,
            actor: claims.get("act").filter(|act| act.is_object()).cloned(),
            plan: text("pla"),
            features,
            custom_claims,
            expires_at,
            kind: TokenKind::Session,
            scopes: Vec::new(),
            client_id: None,
        }
    }

    /// A machine caller whose token Clerk (or the instance's keys) vouched for. It has no
    /// session, organisation, plan or features: `@role` and `@permission` refuse it.
    pub fn machine(
        kind: TokenKind,
        subject: String,
        scopes: Vec<String>,
        client_id: Option<String>,
        claims: Map<String, Value>,
        expires_at: i64,
    ) -> Self {
        Viewer {
            user_id: subject,
            session_id: None,
            org: None,
            actor: None,
            plan: None,
            features: Vec::new(),
            custom_claims: claims,
            expires_at,
            kind,
            scopes,
            client_id,
        }
    }

    pub fn is_session(&self) -> bool {
        self.kind == TokenKind::Session
    }

    /// The value at a dot path inside the custom claims, e.g. `metadata.role`.
    pub fn custom_claim(&self, dot_path: &str) -> Option<&Value> {
        let mut segments = dot_path.split('.');
        let mut value = self.custom_claims.get(segments.next()?)?;
        for segment in segments {
            value = value.get(segment)?;
        }
        Some(value)
    }
}

fn org_v1(claims: &Map<String, Value>) -> Option<ActiveOrganization> {
    let id = claims.get("org_id")?.as_str()?.to_string();
    let permissions = claims
        .get("org_permissions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(ActiveOrganization {
        id,
        slug: claims
            .get("org_slug")
            .and_then(Value::as_str)
            .map(str::to_string),
        role: claims
            .get("org_role")
            .and_then(Value::as_str)
            .map(prefixed_role),
        permissions,
    })
}

fn org_v2(claims: &Map<String, Value>) -> Option<ActiveOrganization> {
    let o = claims.get("o")?.as_object()?;
    let field = |key: &str| o.get(key).and_then(Value::as_str);
    Some(ActiveOrganization {
        id: field("id")?.to_string(),
        slug: field("slg").map(str::to_string),
        role: field("rol").map(prefixed_role),
        permissions: org_permissions::decode(
            claims.get("fea").and_then(Value::as_str),
            field("per"),
            field("fpm"),
        ),
    })
}

fn prefixed_role(role: &str) -> String {
    if role.starts_with("org:") {
        role.to_string()
    } else {
        format!("org:{role}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn viewer(claims: Value) -> Viewer {
        Viewer::from_verified_claims("user_1".into(), 0, claims.as_object().unwrap())
    }

    #[test]
    fn v1_and_v2_normalise_to_the_same_org() {
        let v1 = viewer(json!({
            "org_id": "org_1", "org_slug": "acme", "org_role": "org:admin",
            "org_permissions": ["org:impersonation:read", "org:impersonation:manage"]
        }));
        let v2 = viewer(json!({
            "v": 2, "fea": "o:impersonation",
            "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3"}
        }));
        assert_eq!(v1.org, v2.org);
        assert_eq!(v1.org.unwrap().role.as_deref(), Some("org:admin"));
    }

    #[test]
    fn v2_without_org_has_no_org_and_keeps_features_and_plan() {
        let v = viewer(json!({"v": 2, "fea": "u:impersonation,u:memberships", "pla": "u:free"}));
        assert_eq!(v.org, None);
        assert_eq!(v.features, vec!["u:impersonation", "u:memberships"]);
        assert_eq!(v.plan.as_deref(), Some("u:free"));
        // o without per/fpm: empty permissions, not missing.
        let v = viewer(json!({"v": 2, "o": {"id": "org_1", "rol": "member"}}));
        assert_eq!(v.org.unwrap().permissions, Vec::<String>::new());
    }

    #[test]
    fn custom_claims_exclude_clerk_claims_and_resolve_dot_paths() {
        let v = viewer(json!({
            "sid": "sess_1", "azp": "x", "metadata": {"role": "admin"}, "tier": 3
        }));
        assert_eq!(v.custom_claims.len(), 2);
        assert_eq!(v.custom_claim("metadata.role"), Some(&json!("admin")));
        assert_eq!(v.custom_claim("metadata.missing"), None);
        assert_eq!(v.session_id.as_deref(), Some("sess_1"));
    }
}
