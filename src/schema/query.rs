use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use sea_orm::DatabaseConnection;

use super::examples::{
    AdminNote, BillingNote, MemberNote, Node, Note, OrgAdminNote, ServiceStatus, note,
};
use super::viewer::ViewerObject;
use crate::auth::Viewer;

/// The template's own part of the query root: the health check, the viewer and the
/// authorization examples; the domains add theirs (`crate::schema`).
#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    /// Always "ok": a public field to check that the API answers.
    async fn health(&self) -> &'static str {
        "ok"
    }

    /// The signed-in user as the session token describes them; null when anonymous.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<ViewerObject> {
        ctx.data_opt::<Arc<Viewer>>()
            .map(|viewer| ViewerObject(Arc::clone(viewer)))
    }

    /// Example of `@scope`: for machine callers granted `status:read`. Nullable so that a
    /// denial nulls this field only.
    async fn service_status(&self, ctx: &Context<'_>) -> Option<ServiceStatus> {
        let database = ctx.data_opt::<DatabaseConnection>();
        let database_reachable = match database {
            // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
            Some(database) => Box::pin(database.ping()).await.is_ok(),
            None => false,
        };
        Some(ServiceStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            database_reachable,
        })
    }

    /// Example of a type-level `@auth`.
    async fn member_note(&self) -> Option<MemberNote> {
        match note("member")? {
            Note::Member(n) => Some(n),
            _ => None,
        }
    }

    /// Example of a type-level `@role(name: "admin")`.
    async fn admin_note(&self) -> Option<AdminNote> {
        match note("admin")? {
            Note::Admin(n) => Some(n),
            _ => None,
        }
    }

    /// Example of a type-level `@role(name: "org:admin")`.
    async fn org_admin_note(&self) -> Option<OrgAdminNote> {
        match note("org-admin")? {
            Note::OrgAdmin(n) => Some(n),
            _ => None,
        }
    }

    /// Example of a type-level `@permission(name: "org:billing:manage")`.
    async fn billing_note(&self) -> Option<BillingNote> {
        match note("billing")? {
            Note::Billing(n) => Some(n),
            _ => None,
        }
    }

    /// Any example note through the `Node` interface.
    async fn node(&self, id: ID) -> Option<Node> {
        note(&id).map(Node::from)
    }

    /// Any example note through the `Note` union.
    async fn note(&self, id: ID) -> Option<Note> {
        note(&id)
    }
}
