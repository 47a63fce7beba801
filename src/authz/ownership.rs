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
//! through an interface (upstream issue #1826); the enforcer's hook is not.

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
