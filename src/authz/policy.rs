//! Deciding whether a viewer meets a field's requirements.

use serde_json::Value;

use super::Requirement;
use crate::auth::Viewer;
use crate::config::TokenKind;

/// Clerk could not tell us the user's app role (down, slow or rate-limiting).
#[derive(Debug, Clone, Copy)]
pub struct RoleUnavailable;

/// Where the app role comes from when the session token does not carry it (the Clerk user's
/// `public_metadata.role`). Request data, so that lookups are batched and cached per request.
#[async_graphql::async_trait::async_trait]
pub trait AppRoleSource: Send + Sync {
    async fn app_role(&self, user_id: &str) -> Result<Option<String>, RoleUnavailable>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Unauthenticated,
    Forbidden(String),
    /// A check needed Clerk and Clerk did not answer: fail closed, but say so, so that clients
    /// retry instead of concluding the user lacks the role.
    Unavailable,
}

impl Denial {
    /// `extensions.code` of the field error (ARCHITECTURE §6).
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Unauthenticated => "UNAUTHENTICATED",
            Denial::Forbidden(_) => "FORBIDDEN",
            Denial::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denial::Unauthenticated => "Sign in to access this field.".to_string(),
            Denial::Forbidden(why) => format!("Not allowed: this field {why}."),
            Denial::Unavailable => {
                "The user's role could not be loaded from Clerk; try again shortly.".to_string()
            }
        }
    }
}

/// What the viewer alone decides. `@ownerOrRole` only contributes "signed in" here: the rest
/// depends on the row, which [`owner_or_role`] decides once the resolver names its owner.
pub async fn evaluate(
    required: &[Requirement],
    viewer: Option<&Viewer>,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<(), Denial> {
    let Some(viewer) = viewer else {
        return Err(Denial::Unauthenticated);
    };
    for requirement in required {
        match requirement {
            Requirement::Authenticated(accepts) => {
                if !accepts.contains(&viewer.kind) {
                    return Err(Denial::Forbidden(format!(
                        "does not accept {} callers",
                        viewer.kind
                    )));
                }
            }
            Requirement::Scope(name) => {
                if !viewer.scopes.iter().any(|scope| scope == name) {
                    return Err(Denial::Forbidden(format!("requires the scope `{name}`")));
                }
            }
            // Roles and permissions belong to users in sessions: a machine token carries no
            // organisation role or permissions, and claims on an API key are not roles
            // (ARCHITECTURE §5). A user's own API key may read that user's own rows (the owner
            // half of `@ownerOrRole`), never as a role holder.
            Requirement::Role(_) | Requirement::Permission(_) if !viewer.is_session() => {
                return Err(Denial::Forbidden("requires a user session".to_string()));
            }
            Requirement::OwnerOrRole(_)
                if !matches!(viewer.kind, TokenKind::Session | TokenKind::ApiKey) =>
            {
                return Err(Denial::Forbidden(
                    "requires a user session or the user's API key".to_string(),
                ));
            }
            Requirement::OwnerOrRole(_) => {}
            Requirement::Role(name) => {
                if !holds_role(viewer, name, role_claim, roles).await? {
                    return Err(Denial::Forbidden(format!(
                        "requires the {} `{name}`",
                        role_kind(name)
                    )));
                }
            }
            Requirement::Permission(name) => {
                let granted = viewer
                    .org
                    .as_ref()
                    .is_some_and(|org| org.permissions.iter().any(|p| p == name));
                if !granted {
                    return Err(Denial::Forbidden(format!(
                        "requires the permission `{name}`"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The row half of every `@ownerOrRole(role)` in `required`: the owner passes; anyone else needs
/// each role. The owner is never made to wait for Clerk (nor refused when Clerk is down): the
/// role is only looked up for someone else.
pub async fn owner_or_role(
    required: &[Requirement],
    viewer: Option<&Viewer>,
    owner_id: &str,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<(), Denial> {
    let Some(viewer) = viewer else {
        return Err(Denial::Unauthenticated);
    };
    if viewer.user_id == owner_id {
        return Ok(());
    }
    for requirement in required {
        if let Requirement::OwnerOrRole(name) = requirement
            && !holds_role(viewer, name, role_claim, roles).await?
        {
            return Err(Denial::Forbidden(format!(
                "is readable by its owner and the {} `{name}` only",
                role_kind(name)
            )));
        }
    }
    Ok(())
}

fn role_kind(name: &str) -> &'static str {
    if name.starts_with("org:") {
        "organisation role"
    } else {
        "role"
    }
}

/// `org:`-prefixed names match the active organisation role; other names the app role.
async fn holds_role(
    viewer: &Viewer,
    name: &str,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<bool, Denial> {
    if !viewer.is_session() {
        return Ok(false);
    }
    if name.starts_with("org:") {
        let role = viewer.org.as_ref().and_then(|org| org.role.as_deref());
        return Ok(role == Some(name));
    }
    has_app_role(viewer, name, role_claim, roles).await
}

/// The claim decides when the token carries it (a string, or a list of strings); only when it
/// is absent is Clerk asked.
async fn has_app_role(
    viewer: &Viewer,
    name: &str,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<bool, Denial> {
    match viewer.custom_claim(role_claim) {
        Some(Value::String(role)) => Ok(role == name),
        Some(Value::Array(list)) => Ok(list.iter().any(|role| role.as_str() == Some(name))),
        Some(_) => Ok(false),
        None => match roles {
            Some(source) => match source.app_role(&viewer.user_id).await {
                Ok(role) => Ok(role.as_deref() == Some(name)),
                Err(RoleUnavailable) => Err(Denial::Unavailable),
            },
            None => Ok(false),
        },
    }
}

#[cfg(test)]
mod tests {
    //! The machine rules through a schema of their own: `@scope` and `@auth(accepts:)` reached
    //! directly, through an alias, a fragment and an interface (where a field requires what it
    //! requires on every implementor).

    use std::sync::Arc;

    use crate::authz::test_support::Enforce;
    use async_graphql::{
        EmptyMutation, EmptySubscription, Interface, Request, Schema, SimpleObject,
    };
    use serde_json::{Map, Value, json};

    use crate::auth::Viewer;
    use crate::authz::directives::{ViewerKind, auth, scope};
    use crate::config::TokenKind;

    /// Scoped: machines granting `status:read`.
    #[derive(SimpleObject)]
    #[graphql(directive = scope::apply("status:read".into()))]
    struct Gauge {
        level: i32,
    }

    /// Open to M2M and API keys, not to sessions.
    #[derive(SimpleObject)]
    #[graphql(directive = auth::apply(Some(vec![ViewerKind::M2m, ViewerKind::ApiKey])))]
    struct Meter {
        level: i32,
    }

    #[derive(Interface)]
    #[graphql(field(name = "level", ty = "&i32"))]
    enum Reading {
        Gauge(Gauge),
        Meter(Meter),
    }

    struct Query;

    #[async_graphql::Object]
    impl Query {
        async fn gauge(&self) -> Option<Gauge> {
            Some(Gauge { level: 1 })
        }

        async fn meter(&self) -> Option<Meter> {
            Some(Meter { level: 2 })
        }

        async fn reading(&self) -> Option<Reading> {
            Some(Reading::Meter(Meter { level: 3 }))
        }
    }

    fn machine(kind: TokenKind, scopes: &[&str]) -> Arc<Viewer> {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        Arc::new(Viewer::machine(
            kind,
            "mch_1".into(),
            scopes,
            None,
            Map::new(),
            i64::MAX,
        ))
    }

    fn session() -> Arc<Viewer> {
        Arc::new(Viewer::from_verified_claims(
            "user_1".into(),
            i64::MAX,
            &Map::new(),
        ))
    }

    /// `data` and the codes of the errors.
    async fn run(query: &str, viewer: Option<Arc<Viewer>>) -> (Value, Vec<Value>) {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(Enforce)
            .finish();
        let mut request = Request::new(query);
        if let Some(viewer) = viewer {
            request = request.data(viewer);
        }
        let response = serde_json::to_value(schema.execute(request).await).unwrap();
        let codes = response["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["extensions"]["code"].clone())
                    .collect()
            })
            .unwrap_or_default();
        (response["data"].clone(), codes)
    }

    #[tokio::test]
    async fn scope_through_alias_and_fragment() {
        let query = "{ g: gauge { ...G } } fragment G on Gauge { l: level }";
        let granted = machine(TokenKind::M2m, &["status:read"]);
        assert_eq!(
            run(query, Some(granted)).await,
            (json!({"g": {"l": 1}}), vec![])
        );
        for viewer in [machine(TokenKind::ApiKey, &["other"]), session()] {
            let (data, codes) = run(query, Some(viewer)).await;
            assert_eq!(
                (data["g"].clone(), codes),
                (Value::Null, vec![json!("FORBIDDEN")])
            );
        }
        let (_, codes) = run(query, None).await;
        assert_eq!(codes, vec![json!("UNAUTHENTICATED")]);
    }

    #[tokio::test]
    async fn accepts_lists_the_kinds_admitted() {
        let query = "{ meter { level } }";
        for kind in [TokenKind::M2m, TokenKind::ApiKey] {
            let (data, codes) = run(query, Some(machine(kind, &[]))).await;
            assert_eq!((data, codes), (json!({"meter": {"level": 2}}), vec![]));
        }
        for viewer in [machine(TokenKind::OAuth, &["status:read"]), session()] {
            let (data, codes) = run(query, Some(viewer)).await;
            assert_eq!(
                (data["meter"].clone(), codes),
                (Value::Null, vec![json!("FORBIDDEN")])
            );
        }
    }

    #[tokio::test]
    async fn an_interface_field_requires_what_every_implementor_requires() {
        // `reading` is a Meter at run time, but `Reading.level` requires Gauge's scope too.
        let query = "{ reading { level } }";
        let meter_only = machine(TokenKind::M2m, &[]);
        let (data, codes) = run(query, Some(meter_only)).await;
        assert_eq!(data["reading"]["level"], Value::Null);
        assert_eq!(codes, vec![json!("FORBIDDEN")]);
        let both = machine(TokenKind::M2m, &["status:read"]);
        assert_eq!(
            run(query, Some(both)).await,
            (json!({"reading": {"level": 3}}), vec![])
        );
        // Through an inline fragment on the concrete type, only Meter's mark applies.
        let query = "{ reading { ... on Meter { level } } }";
        let (data, codes) = run(query, Some(machine(TokenKind::ApiKey, &[]))).await;
        assert_eq!((data, codes), (json!({"reading": {"level": 3}}), vec![]));
    }
}
