//! The directive declarations. Apply them with `#[graphql(directive = auth::apply(None))]`,
//! `#[graphql(directive = role::apply("admin".into()))]` or
//! `#[graphql(directive = permission::apply("org:billing:manage".into()))]` on a field or a type,
//! and `#[graphql(directive = owner_or_role::apply("admin".into()))]` on a field whose resolver
//! starts with [`check_owner`](super::check_owner).
//!
//! The derive generates a unit struct named like each function (`auth`, `role`, `permission`,
//! `owner_or_role`), which is why they live in a module of their own and are used by path.
#![allow(non_camel_case_types)]

use async_graphql::TypeDirective;

use crate::config::TokenKind;

/// Only a signed-in viewer may read this field (or every field of this type): a user session,
/// unless `accepts` lists the kinds of caller allowed, e.g. `[SESSION, API_KEY]`.
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn auth(accepts: Option<Vec<ViewerKind>>) {}

/// Requires a scope granted by an API key, M2M token or OAuth access token, e.g.
/// `status:read`. Sessions carry no scopes, so a field with only this mark is for machines.
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn scope(name: String) {}

/// What authenticated a request (`CLERK_ACCEPTED_TOKENS` says which are accepted at all).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    /// A user's session token.
    Session,
    /// An API key (`ak_…`) of a user or an organisation.
    ApiKey,
    /// A machine-to-machine token (`mt_…` or an M2M JWT) of a machine (`mch_…`).
    #[graphql(name = "M2M")]
    M2m,
    /// An OAuth access token (`oat_…` or an `at+jwt` JWT): an app acting for a user.
    Oauth,
}

impl From<TokenKind> for ViewerKind {
    fn from(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Session => Self::Session,
            TokenKind::ApiKey => Self::ApiKey,
            TokenKind::M2m => Self::M2m,
            TokenKind::OAuth => Self::Oauth,
        }
    }
}

/// Requires a role: `org:`-prefixed names match the active organisation role, other names the
/// app role (session claim at `CLERK_ROLE_CLAIM`, else `public_metadata.role` of the Clerk user).
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn role(name: String) {}

/// Requires a permission in the active organisation, e.g. `org:billing:manage`.
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn permission(name: String) {}

/// Personal data: readable by the signed-in user who owns the row, and by holders of `role`
/// (app role, or `org:` organisation role, as for `@role`). Anyone else gets `null` and an error.
// The parameter is renamed `role` in the schema: named so in Rust, it would be the struct `role`.
#[TypeDirective(name = "ownerOrRole", location = "FieldDefinition")]
pub fn owner_or_role(#[graphql(name = "role")] role_name: String) {}
