//! The users slice's GraphQL face: `User` (a row of the app's own `users` table, kept in sync
//! from Clerk), the queries that read it (`me`, `user`, `users`) and the viewer's own user events
//! (`myUserEvents`).

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Error, ID, Json, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use serde_json::Value;

use futures_util::{Stream, StreamExt};

use super::entity::Model;
use super::events::{UserEvent, UserEventKind, UserEvents};
use super::provision::{ProvisionError, Provisioning, current_user};
use super::{UserCursor, find_active, lookup};
use crate::auth::Viewer;
use crate::authz::directives::{ViewerKind, auth, owner_or_role, role};
use crate::authz::{Owned, check_owner};
use crate::clerk::ClerkUserLoader;
use crate::graphql::clerk_user::{ClerkUserObject, live_profile};
use crate::graphql::limits::QueriesOnly;
use crate::graphql::pagination::page_size;
use crate::graphql::personal_data::PersonalFields;
use crate::graphql::{database, errors};

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

/// A user. The public profile (`id`, `displayName`) is readable by anyone; the personal
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

    /// Email, username, names, image.
    #[graphql(flatten)]
    async fn personal(&self) -> PersonalFields<'_> {
        let user = &self.0;
        PersonalFields {
            owner_id: &user.id,
            email: user.email.as_deref(),
            username: user.username.as_deref(),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            image_url: user.image_url.as_deref(),
        }
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

    /// The user as Clerk's Backend API describes them right now (cached up to a minute);
    /// for admin screens. Several users in one request are fetched in one call.
    #[graphql(directive = role::apply("admin".into()))]
    async fn profile(&self, ctx: &Context<'_>) -> Result<Option<ClerkUserObject>> {
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        Box::pin(live_profile(ctx, &self.0.id)).await
    }
}

/// The users slice's part of the query root.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user's row. Created on first use from Clerk's Backend API when the
    /// `user.created` webhook has not arrived yet; null once the user is deleted. Also readable
    /// with the user's API key (null for an organisation's key, which is no user).
    #[graphql(directive = auth::apply(Some(vec![ViewerKind::Session, ViewerKind::ApiKey])))]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        let viewer = ctx.data::<Arc<Viewer>>()?;
        if !viewer.is_session() && !viewer.user_id.starts_with("user_") {
            // An organisation's API key acts for no user.
            return Ok(None);
        }
        let clerk = ctx.data_opt::<Arc<DataLoader<ClerkUserLoader>>>();
        // Over `GET` (queries only) nothing is written.
        let provisioning = if ctx.data_opt::<QueriesOnly>().is_some() {
            Provisioning::InMemory
        } else {
            Provisioning::Store
        };
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        let user = Box::pin(current_user(
            database(ctx)?,
            viewer,
            clerk.map(Arc::as_ref),
            provisioning,
        ))
        .await
        .map_err(provisioning_error)?;
        Ok(user.map(UserObject::from))
    }

    /// A user by Clerk user id; null when unknown or deleted.
    #[graphql(directive = auth::apply(None))]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UserObject>> {
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        let user = Box::pin(find_active(database(ctx)?, &id))
            .await
            .map_err(errors::database)?;
        Ok(user.map(UserObject::from))
    }

    /// Users, oldest first, in pages of `first` (default 20, at most 100) after the cursor
    /// `after`; `search` matches part of the email, username or names.
    #[graphql(
        directive = role::apply("admin".into()),
        complexity = "crate::graphql::limits::connection_complexity(first, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<UserConnection> {
        let request = UsersPageRequest::parse(first, after, search)?;
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        Box::pin(users_page(ctx, database(ctx)?, request)).await
    }
}

/// The users slice's part of the subscription root.
#[derive(Default)]
pub struct UserSubscription;

#[Subscription]
impl UserSubscription {
    /// Changes to the signed-in user's own row that Clerk's webhooks bring (a profile edited in
    /// another tab or by an admin, the account deleted): the frontend refreshes what it shows.
    #[graphql(directive = auth::apply(None))]
    async fn my_user_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = UserEventObject>> {
        let user_id = ctx.data::<Arc<Viewer>>()?.user_id.clone();
        let events = ctx
            .data::<UserEvents>()?
            .stream()
            .filter(move |event| std::future::ready(event.user_id == user_id))
            .map(UserEventObject);
        Ok(events)
    }
}

/// A change to a user's row.
pub struct UserEventObject(UserEvent);

#[Object(name = "UserEvent")]
impl UserEventObject {
    async fn kind(&self) -> UserEventKind {
        self.0.kind
    }

    /// The row as it is now; null once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        let user = find_active(database(ctx)?, &self.0.user_id)
            .await
            .map_err(errors::database)?;
        Ok(user.map(UserObject::from))
    }
}

/// Creating the viewer's row failed: the database or Clerk's Backend API.
pub fn provisioning_error(error: ProvisionError) -> Error {
    match error {
        ProvisionError::Database(error) => errors::database(error),
        ProvisionError::Clerk(error) => {
            tracing::warn!(%error, "could not provision the user from Clerk");
            errors::clerk_unavailable()
        }
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
    let page = lookup::page(
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
