use std::sync::Arc;

use async_graphql::{Context, Object};

use super::viewer::ViewerObject;
use crate::auth::Viewer;

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
}
