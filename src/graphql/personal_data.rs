//! The personal fields of a user's profile (email, username, names, image), whichever object
//! holds them: the app's `User` row or Clerk's live `ClerkUser` profile. Both types flatten
//! [`PersonalFields`] into themselves, so the fields, their `@ownerOrRole(role: "admin")` mark
//! and the `check_owner` that goes with it are written once and cannot drift apart. (Each type
//! keeps its other personal fields, whose types or places in the SDL differ.)

use async_graphql::{Context, Object, Result};

use crate::authz::directives::owner_or_role;
use crate::authz::{Owned, check_owner};

/// The fields, for a resolver marked `#[graphql(flatten)]`: they appear on the holder's type, in
/// the place of that resolver.
pub struct PersonalFields<'a> {
    /// The Clerk user id whose data this is.
    pub owner_id: &'a str,
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub image_url: Option<&'a str>,
}

impl Owned for PersonalFields<'_> {
    fn owner_id(&self) -> &str {
        self.owner_id
    }
}

#[Object]
impl PersonalFields<'_> {
    /// The primary email address.
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.email)
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn username(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.username)
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn first_name(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.first_name)
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn last_name(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.last_name)
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn image_url(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        check_owner(ctx, self).await?;
        Ok(self.image_url)
    }
}
