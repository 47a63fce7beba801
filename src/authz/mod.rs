//! Authorization: `@auth`, `@role(name)`, `@permission(name)` and `@ownerOrRole(role)`.
//!
//! The marks are type-system directives, so they appear in the SDL; [`Authorization`] reads them
//! back from the same schema registry and enforces them on every field resolution. There is no
//! second list of rules to keep in sync: a mark that shows in the schema is, by construction, a
//! mark that is enforced, and `build_schema` is the only way to make a schema, always with the
//! extension that calls [`Authorization`] installed. `@ownerOrRole` also depends on the row, which
//! only the resolver holds: it names the owner with [`check_owner`], and the enforcer refuses the
//! field unless it did (`ownership`).

mod clerk_roles;
pub mod directives;
mod enforcement;
mod ownership;
mod policy;
mod requirements;
#[cfg(test)]
mod test_support;

pub use clerk_roles::ClerkRoles;
pub use enforcement::Authorization;
pub use ownership::{Owned, check_owner};
pub use policy::{AppRoleSource, Denial, RoleUnavailable, evaluate};
pub use requirements::{Requirement, RequirementTable};
