use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};

use super::examples::{AdminNote, BillingNote, MemberNote, Node, Note, OrgAdminNote, note};
use super::limits::QueriesOnly;
use super::post::{PostConnection, PostObject, posts_page, readable_post};
use super::user::{UserConnection, UserObject, UsersPageRequest, users_page};
use super::viewer::ViewerObject;
use super::{database, errors};
use crate::auth::Viewer;
use crate::authz::directives::{auth, role};
use crate::clerk::ClerkUserLoader;
use crate::posts::Listing;
use crate::users::{Provisioning, current_user, find_active};

pub struct Query;

#[Object]
impl Query {
    /// Always "ok": a public field to check that the API answers.
    async fn health(&self) -> &'static str {
        "ok"
    }

    /// The signed-in user as the session token describes them; null when anonymous.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<ViewerObject> {
        ctx.data_opt::<Arc<Viewer>>()
            .map(|viewer| ViewerObject(Arc::clone(viewer)))
    }

    /// The signed-in user's row. Created on first use from Clerk's Backend API when the
    /// `user.created` webhook has not arrived yet; null once the user is deleted.
    #[graphql(directive = auth::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        let viewer = ctx.data::<Arc<Viewer>>()?;
        let clerk = ctx.data_opt::<Arc<DataLoader<ClerkUserLoader>>>();
        // Over `GET` (queries only) nothing is written.
        let provisioning = if ctx.data_opt::<QueriesOnly>().is_some() {
            Provisioning::InMemory
        } else {
            Provisioning::Store
        };
        let user = current_user(database(ctx)?, viewer, clerk.map(Arc::as_ref), provisioning)
            .await
            .map_err(errors::provisioning)?;
        Ok(user.map(UserObject::from))
    }

    /// A user by Clerk user id; null when unknown or deleted.
    #[graphql(directive = auth::apply())]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UserObject>> {
        let user = find_active(database(ctx)?, &id)
            .await
            .map_err(errors::database)?;
        Ok(user.map(UserObject::from))
    }

    /// Users, oldest first, in pages of `first` (default 20, at most 100) after the cursor
    /// `after`; `search` matches part of the email, username or names.
    #[graphql(
        directive = role::apply("admin".into()),
        complexity = "super::limits::connection_complexity(first, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<UserConnection> {
        let request = UsersPageRequest::parse(first, after, search)?;
        users_page(ctx, database(ctx)?, request).await
    }

    /// Published posts, newest first.
    #[graphql(complexity = "super::limits::connection_complexity(first, child_complexity)")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        posts_page(ctx, Listing::Published, first, after).await
    }

    /// A published post, or the viewer's own draft; null otherwise.
    async fn post(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PostObject>> {
        readable_post(ctx, &id).await
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
