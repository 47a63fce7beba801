//! The directive declarations. Apply them with `#[graphql(directive = auth::apply())]`,
//! `#[graphql(directive = role::apply("admin".into()))]` or
//! `#[graphql(directive = permission::apply("org:billing:manage".into()))]` on a field or a type.
//!
//! The derive generates a unit struct named like each function (`auth`, `role`, `permission`),
//! which is why they live in a module of their own and are used by path.
#![allow(non_camel_case_types)]

use async_graphql::TypeDirective;

/// Only a signed-in viewer may read this field (or every field of this type).
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn auth() {}

/// Requires a role: `org:`-prefixed names match the active organisation role, other names the
/// app role (session claim at `CLERK_ROLE_CLAIM`, else `public_metadata.role` of the Clerk user).
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn role(name: String) {}

/// Requires a permission in the active organisation, e.g. `org:billing:manage`.
#[TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn permission(name: String) {}
