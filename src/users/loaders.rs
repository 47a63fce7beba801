//! Per-request loaders over the database. Created for each request and dropped with it: their
//! memo never outlives the request, so one user's view never leaks into another's.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::graphql::spawn_in_trace;
use crate::users::entity::{Column, Entity as Users, Model as User};

/// Active (not deleted) users by id, one `SELECT … WHERE id IN (…)` per batch. Shared rows: the
/// loader hands out a copy per request for a key, and a page's posts often share authors.
pub struct UserRowSource(pub DatabaseConnection);

impl Loader<String> for UserRowSource {
    type Value = Arc<User>;
    type Error = Arc<DbErr>;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Arc<User>>, Self::Error> {
        let users = Users::find()
            .filter(Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(Column::DeletedAt.is_null())
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        Ok(users
            .into_iter()
            .map(|user| (user.id.clone(), Arc::new(user)))
            .collect())
    }
}

/// The request's user-row loader, with a memo for that request only.
pub type UserRowLoader = DataLoader<UserRowSource, HashMapCache>;

pub fn user_row_loader(db: DatabaseConnection) -> UserRowLoader {
    DataLoader::with_cache(UserRowSource(db), spawn_in_trace, HashMapCache::default())
}
