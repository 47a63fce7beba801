//! `User`: a row of the app's own `users` table (kept in sync from Clerk), and the queries that
//! read it.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::clerk_user::{ClerkUserObject, live_profile};
use super::errors;
use super::pagination::page_size;
use super::post::{PostConnection, posts_page};
use crate::auth::Viewer;
use crate::authz::directives::{owner_or_role, role};
use crate::authz::{Owned, check_owner};
use crate::clerk::ClerkUserLoader;
use crate::db::users::Model;
use crate::posts::Listing;
use crate::users::{UserCursor, directory};

/// Longer than this is not a name or an email address.
const MAX_SEARCH_CHARS: usize = 100;

pub struct UserObject(pub Arc<Model>);

impl From<Model> for UserObject {
    fn from(row: Model) -> Self {
        Self(Arc::new(row))
    }
}

/// The owner of the personal fields below is the user themself.
impl Owned for UserObject {
    fn owner_id(&self) -> &str {
        &self.0.id
    }
}

/// A user. The public profile (`id`, `displayName`, `posts`) is readable by anyone; the personal
/// data (`@ownerOrRole(role: "admin")`: email, username, names, image, Clerk timestamps, public
/// metadata) by the user themself and by admins only, `null` with an error for anyone else.
#[Object(name = "User")]
impl UserObject {
    /// The Clerk user id, e.g. `user_2abc…`.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Public: the first name and the initial of the last name (`Ada L.`), or the first name
    /// alone; null without a first name. Never the username or the email.
    async fn display_name(&self) -> Option<String> {
        display_name(self.0.first_name.as_deref(), self.0.last_name.as_deref())
    }

    /// The primary email address.
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.0.email.as_deref())
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn username(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.0.username.as_deref())
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn first_name(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.0.first_name.as_deref())
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn last_name(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.0.last_name.as_deref())
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn image_url(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.0.image_url.as_deref())
    }

    /// When the user signed up (Clerk's time).
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn created_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        check_owner(ctx, self).await?;
        Ok(DateTime::from_timestamp_millis(self.0.clerk_created_at))
    }

    /// When Clerk last changed the user.
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        check_owner(ctx, self).await?;
        Ok(DateTime::from_timestamp_millis(self.0.clerk_updated_at))
    }

    /// Clerk's `public_metadata` (readable by the user's own frontend too).
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn public_metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<&Value>>> {
        check_owner(ctx, self).await?;
        Ok(Some(Json(&self.0.public_metadata)))
    }

    /// The user's posts, newest first: published ones, and drafts too for the user themself.
    #[graphql(complexity = "super::limits::connection_complexity(first, child_complexity)")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let own = ctx
            .data_opt::<Arc<Viewer>>()
            .is_some_and(|viewer| viewer.user_id == self.0.id);
        let listing = Listing::ByAuthor {
            author_id: &self.0.id,
            with_drafts: own,
        };
        posts_page(ctx, listing, first, after).await
    }

    /// The user as Clerk's Backend API describes them right now (cached up to a minute);
    /// for admin screens. Several users in one request are fetched in one call.
    #[graphql(directive = role::apply("admin".into()))]
    async fn profile(&self, ctx: &Context<'_>) -> Result<Option<ClerkUserObject>> {
        live_profile(ctx, &self.0.id).await
    }
}

/// `first name + initial of the last name + "."`; the first name alone when there is no last name;
/// `None` without a first name (a last name alone would be as good as the full name). Blank names
/// count as missing.
fn display_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let first = first.map(str::trim).filter(|name| !name.is_empty())?;
    let initial = last.and_then(|name| name.trim().chars().next());
    Some(match initial {
        Some(initial) => format!("{first} {initial}."),
        None => first.to_string(),
    })
}

/// The `first` / `after` / `search` arguments of `Query.users`, checked.
pub struct UsersPageRequest {
    pub first: u64,
    pub after: Option<UserCursor>,
    pub search: Option<String>,
}

impl UsersPageRequest {
    pub fn parse(
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Self> {
        let first = page_size(first)?;
        let after = match after {
            None => None,
            Some(cursor) => Some(UserCursor::decode(&cursor).ok_or_else(|| {
                errors::bad_user_input("after", "`after` is not a cursor from this API")
            })?),
        };
        let search = search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(errors::bad_user_input(
                "search",
                format!("`search` is limited to {MAX_SEARCH_CHARS} characters"),
            ));
        }
        Ok(Self {
            first,
            after,
            search,
        })
    }
}

pub type UserConnection = Connection<String, UserObject>;

pub async fn users_page(
    ctx: &Context<'_>,
    db: &sea_orm::DatabaseConnection,
    request: UsersPageRequest,
) -> Result<UserConnection> {
    let page = directory::page(
        db,
        request.first,
        request.after.as_ref(),
        request.search.as_deref(),
    )
    .await
    .map_err(errors::database)?;
    prefetch_profiles(ctx, &page.users).await;
    let mut connection = Connection::new(request.after.is_some(), page.has_next_page);
    connection.edges.extend(
        page.users
            .into_iter()
            .map(|user| Edge::new(UserCursor::of(&user).encode(), UserObject::from(user))),
    );
    Ok(connection)
}

/// When the page selects `profile`, loads every user's profile in one batch before the nodes are
/// resolved; each node's own load then finds it in the process-wide cache. The loader's
/// time-window batching alone can split a page into several Backend API calls: a long list is
/// resolved in several passes, and the window may close between two of them.
async fn prefetch_profiles(ctx: &Context<'_>, users: &[Model]) {
    let selection = ctx.look_ahead();
    let wanted = selection.field("nodes").field("profile").exists()
        || selection
            .field("edges")
            .field("node")
            .field("profile")
            .exists();
    if !wanted {
        return;
    }
    if let Some(loader) = ctx.data_opt::<Arc<DataLoader<ClerkUserLoader>>>() {
        // A failure shows on each node's `profile`, which tries again and reports it.
        let _ = loader
            .load_many(users.iter().map(|user| user.id.clone()))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn display_name_is_the_first_name_and_the_last_initial() {
        for (first, last, expected) in [
            (Some("Ada"), Some("Lovelace"), Some("Ada L.")),
            (Some(" Ada "), Some("  lovelace"), Some("Ada l.")),
            (Some("Zoë"), Some("Ødegaard"), Some("Zoë Ø.")),
            (Some("Ada"), None, Some("Ada")),
            (Some("Ada"), Some("   "), Some("Ada")),
            (None, Some("Lovelace"), None),
            (Some(""), Some("Lovelace"), None),
            (None, None, None),
        ] {
            assert_eq!(
                display_name(first, last).as_deref(),
                expected,
                "{first:?} {last:?}"
            );
        }
    }
}
