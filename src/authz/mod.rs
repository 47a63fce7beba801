//! Authorization: `@auth`, `@role(name)` and `@permission(name)`.
//!
//! The marks are type-system directives, so they appear in the SDL; the [`Authorization`]
//! extension reads them back from the same schema registry and enforces them on every field
//! resolution. There is no second list of rules to keep in sync: a mark that shows in the schema
//! is, by construction, a mark that is enforced, and `build_schema` is the only way to make a
//! schema, always with the extension installed.

pub mod directives;
mod extension;
mod policy;
mod requirements;

pub use extension::Authorization;
pub use policy::{AppRoleSource, Denial, RoleUnavailable, evaluate};
pub use requirements::{Requirement, RequirementTable};
