//! Authorization: `@auth`, `@role(name)` and `@permission(name)`.
//!
//! The marks are type-system directives, so they appear in the SDL; [`Authorization`] reads them
//! back from the same schema registry and enforces them on every field resolution. There is no
//! second list of rules to keep in sync: a mark that shows in the schema is, by construction, a
//! mark that is enforced, and `build_schema` is the only way to make a schema, always with the
//! extension that calls [`Authorization`] installed.

pub mod directives;
mod enforcement;
mod policy;
mod requirements;

pub use enforcement::Authorization;
pub use policy::{AppRoleSource, Denial, RoleUnavailable, evaluate};
pub use requirements::{Requirement, RequirementTable};
