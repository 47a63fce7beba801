//! `@ownerOrRole(role)`: a field readable by the user who owns its row and by holders of a role.
//!
//! The enforcer sees a field's parent *type* and name, never the parent *value*, so it cannot tell
//! whose row it is. The rule is split in two halves, joined so that the mark and the check cannot
//! drift apart:
//!
//! 1. the enforcer ([`super::Authorization`]) does what depends on the viewer alone (anonymous →
//!    `UNAUTHENTICATED`, before the resolver runs), then runs the resolver inside an
//!    [`OwnerScope`];
//! 2. the resolver starts with [`check_owner`]`(ctx, self).await?`, which names the row's owner
//!    ([`Owned`]) and decides: the owner, or else a holder of the role;
//! 3. back in the enforcer, the field is served only if `check_owner` ran in *that* field and
//!    allowed it; its denial becomes the field's error, whatever the resolver did with it.
//!
//! So a marked field whose resolver forgets `check_owner` is served to nobody, and `check_owner`
//! in a field without the mark fails too (the SDL would not show the rule): both answer
//! `INTERNAL_SERVER_ERROR` and log which field, so the first test that reads the field shows the
//! mistake. async-graphql's guards could see the row, but they are skipped when a field is reached
//! through an interface (upstream issue #1826); the enforcer's hook is not. Through an interface a
//! field requires what it requires on every implementor, so if one implementor marks it, every
//! implementor's resolver must call `check_owner`.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::{Context, ErrorExtensions};

use super::Requirement;
use super::policy::{AppRoleSource, Denial, owner_or_role};
use crate::auth::Viewer;

/// A row that belongs to one user, for its `@ownerOrRole` fields.
pub trait Owned {
    /// The Clerk user id of the owner.
    fn owner_id(&self) -> &str;
}

tokio::task_local! {
    /// The `@ownerOrRole` field being resolved (the innermost, when such fields nest). A task
    /// local reaches the resolver, which runs inside the enforcer's hook on the same task, without
    /// a lookup or an allocation for the fields that have no such mark.
    static SCOPE: OwnerScope;
}

/// What the enforcer hands the resolver of one `@ownerOrRole` field, and what comes back.
pub(super) struct OwnerScope {
    /// The field, by the address of its node in the document: the resolver's context holds the
    /// same node (`ctx.item`), so a `check_owner` from any other field is told apart.
    field: usize,
    required: Arc<[Requirement]>,
    role_claim: Arc<str>,
    /// `None` until `check_owner` runs; then its decision (the first denial, if it ran twice).
    decision: Cell<Option<Result<(), Denial>>>,
}

impl OwnerScope {
    pub(super) fn new(field: &Field, required: Arc<[Requirement]>, role_claim: Arc<str>) -> Self {
        Self {
            field: address(field),
            required,
            role_claim,
            decision: Cell::new(None),
        }
    }

    /// Runs the field's resolution in this scope. Answers its result and what `check_owner`
    /// decided: `None` when it was not called.
    pub(super) async fn run<F: Future>(
        self,
        resolve: F,
    ) -> (F::Output, Option<Result<(), Denial>>) {
        let mut scoped = pin!(SCOPE.scope(self, resolve));
        let output = scoped.as_mut().await;
        let decision = scoped
            .as_mut()
            .take_value()
            .and_then(|scope| scope.decision.into_inner());
        (output, decision)
    }

    fn record(&self, decision: Result<(), Denial>) {
        let decided = match self.decision.take() {
            Some(Err(denial)) => Err(denial),
            _ => decision,
        };
        self.decision.set(Some(decided));
    }
}

/// The row half of `@ownerOrRole`: call it first in the resolver of every field that carries the
/// mark, with the row the field reads from. `Ok` for the owner, and for anyone else holding the
/// mark's role (looked up only for them: the owner never waits for Clerk). On `Err` return it
/// (`?`): the enforcer answers the field `null` with `FORBIDDEN`, or `SERVICE_UNAVAILABLE` when the
/// role could not be loaded.
pub async fn check_owner<T: Owned>(ctx: &Context<'_>, row: &T) -> async_graphql::Result<()> {
    let field = address(&ctx.item.node);
    let scope = SCOPE.try_with(|scope| {
        (scope.field == field).then(|| (Arc::clone(&scope.required), Arc::clone(&scope.role_claim)))
    });
    let Ok(Some((required, role_claim))) = scope else {
        tracing::error!(
            field = ctx.item.node.name.node.as_str(),
            row = std::any::type_name::<T>(),
            "authz::check_owner called in a field without @ownerOrRole: add the mark"
        );
        return Err(async_graphql::Error::new("Internal server error.")
            .extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR")));
    };
    let viewer = ctx.data_opt::<Arc<Viewer>>().map(Arc::as_ref);
    let roles = ctx.data_opt::<Arc<dyn AppRoleSource>>().map(Arc::as_ref);
    let decision = owner_or_role(&required, viewer, row.owner_id(), &role_claim, roles).await;
    // Still inside the scope: this future is polled by the field's resolution.
    let _ = SCOPE.try_with(|scope| scope.record(decision.clone()));
    decision.map_err(|denial| {
        let code = denial.code();
        async_graphql::Error::new(denial.message()).extend_with(|_, e| e.set("code", code))
    })
}

fn address(field: &Field) -> usize {
    std::ptr::from_ref(field) as usize
}

#[cfg(test)]
mod tests {
    //! The joint between the enforcer and `check_owner`, on a schema of its own: what happens when
    //! a resolver forgets the call, ignores its answer, or makes it without the mark.

    use crate::authz::test_support::Enforce;
    use async_graphql::{EmptyMutation, EmptySubscription, Interface, Object, Request, Schema};
    use serde_json::{Value, json};

    use super::*;
    use crate::authz::RoleUnavailable;
    use crate::authz::directives::owner_or_role;

    struct Row;

    impl Owned for Row {
        fn owner_id(&self) -> &str {
            "user_owner"
        }
    }

    #[Object]
    impl Row {
        #[graphql(directive = owner_or_role::apply("admin".into()))]
        async fn checked(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
            check_owner(ctx, self).await?;
            Ok(Some("secret"))
        }

        #[graphql(directive = owner_or_role::apply("admin".into()))]
        async fn forgotten(&self) -> Option<&str> {
            Some("secret")
        }

        #[graphql(directive = owner_or_role::apply("admin".into()))]
        async fn ignored(&self, ctx: &Context<'_>) -> Option<&str> {
            let _ = check_owner(ctx, self).await;
            Some("secret")
        }

        async fn unmarked(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
            check_owner(ctx, self).await?;
            Ok(Some("secret"))
        }

        /// A marked field with fields of its own: theirs are not its.
        #[graphql(directive = owner_or_role::apply("admin".into()))]
        async fn child(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Row>> {
            check_owner(ctx, self).await?;
            Ok(Some(Row))
        }
    }

    #[derive(Interface)]
    #[graphql(field(name = "checked", ty = "Option<&str>"))]
    enum Secret {
        Row(Row),
    }

    struct Query;

    #[Object]
    impl Query {
        async fn row(&self) -> Row {
            Row
        }

        async fn secret(&self) -> Secret {
            Secret::Row(Row)
        }
    }

    /// Clerk is down: any role lookup fails.
    struct ClerkDown;

    #[async_graphql::async_trait::async_trait]
    impl AppRoleSource for ClerkDown {
        async fn app_role(&self, _: &str) -> Result<Option<String>, RoleUnavailable> {
            Err(RoleUnavailable)
        }
    }

    fn viewer(user_id: &str, claims: Value) -> Arc<Viewer> {
        let claims = claims.as_object().cloned().unwrap_or_default();
        Arc::new(Viewer::from_verified_claims(
            user_id.into(),
            i64::MAX,
            &claims,
        ))
    }

    /// The values at `pointers` (JSON pointers into `data`; `null` when denied, however
    /// async-graphql shapes the parent: the schema's null-on-error rule is not installed here) and
    /// the `(path, code)` of each error, for the query as `viewer` (`None`: anonymous).
    async fn run(
        query: &str,
        viewer: Option<Arc<Viewer>>,
        pointers: &[&str],
    ) -> (Vec<Value>, Vec<(Value, Value)>) {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(Enforce)
            .finish();
        let roles: Arc<dyn AppRoleSource> = Arc::new(ClerkDown);
        let mut request = Request::new(query).data(roles);
        if let Some(viewer) = viewer {
            request = request.data(viewer);
        }
        let response = serde_json::to_value(schema.execute(request).await).unwrap();
        let values = pointers
            .iter()
            .map(|pointer| {
                response["data"]
                    .pointer(pointer)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let errors = response["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|error| (error["path"].clone(), error["extensions"]["code"].clone()))
            .collect();
        (values, errors)
    }

    fn owner() -> Option<Arc<Viewer>> {
        Some(viewer("user_owner", json!({})))
    }

    fn admin() -> Option<Arc<Viewer>> {
        Some(viewer("user_admin", json!({"metadata": {"role": "admin"}})))
    }

    fn member() -> Option<Arc<Viewer>> {
        Some(viewer(
            "user_other",
            json!({"metadata": {"role": "member"}}),
        ))
    }

    fn secret() -> Value {
        json!("secret")
    }

    #[tokio::test]
    async fn the_owner_and_the_role_read_a_checked_field_others_do_not() {
        // Through the interface too (async-graphql's guards would be skipped there).
        let query = "{ row { checked } secret { checked } }";
        let fields = ["/row/checked", "/secret/checked"];
        for who in [owner(), admin()] {
            let (values, errors) = run(query, who, &fields).await;
            assert_eq!(values, [secret(), secret()]);
            assert_eq!(errors, []);
        }
        for (who, code) in [(member(), "FORBIDDEN"), (None, "UNAUTHENTICATED")] {
            let (values, errors) = run(query, who, &fields).await;
            assert_eq!(values, [Value::Null, Value::Null]);
            assert_eq!(
                errors,
                [
                    (json!(["row", "checked"]), json!(code)),
                    (json!(["secret", "checked"]), json!(code)),
                ]
            );
        }
    }

    #[tokio::test]
    async fn the_owner_never_waits_for_the_role_and_others_learn_clerk_is_down() {
        let fields = ["/row/checked"];
        let (values, errors) = run("{ row { checked } }", owner(), &fields).await;
        assert_eq!((values, errors), (vec![secret()], vec![]));
        let no_claim = Some(viewer("user_other", json!({})));
        let (values, errors) = run("{ row { checked } }", no_claim, &fields).await;
        assert_eq!(values, [Value::Null]);
        assert_eq!(
            errors,
            [(json!(["row", "checked"]), json!("SERVICE_UNAVAILABLE"))]
        );
    }

    #[tokio::test]
    async fn a_marked_field_that_never_checks_is_served_to_nobody() {
        for who in [owner(), admin(), member()] {
            let (values, errors) = run("{ row { forgotten } }", who, &["/row/forgotten"]).await;
            assert_eq!(values, [Value::Null]);
            assert_eq!(
                errors,
                [(json!(["row", "forgotten"]), json!("INTERNAL_SERVER_ERROR"))]
            );
        }
    }

    #[tokio::test]
    async fn a_denial_holds_even_when_the_resolver_ignores_it() {
        let fields = ["/row/ignored"];
        let (values, errors) = run("{ row { ignored } }", member(), &fields).await;
        assert_eq!(values, [Value::Null]);
        assert_eq!(errors, [(json!(["row", "ignored"]), json!("FORBIDDEN"))]);
        let (values, errors) = run("{ row { ignored } }", owner(), &fields).await;
        assert_eq!((values, errors), (vec![secret()], vec![]));
    }

    #[tokio::test]
    async fn check_owner_without_the_mark_fails_even_inside_a_marked_field() {
        let query = "{ row { unmarked child { checked unmarked } } }";
        let fields = ["/row/unmarked", "/row/child/checked", "/row/child/unmarked"];
        let (values, errors) = run(query, owner(), &fields).await;
        assert_eq!(values, [Value::Null, secret(), Value::Null]);
        assert_eq!(
            errors,
            [
                (json!(["row", "unmarked"]), json!("INTERNAL_SERVER_ERROR")),
                (
                    json!(["row", "child", "unmarked"]),
                    json!("INTERNAL_SERVER_ERROR")
                ),
            ]
        );
    }
}
