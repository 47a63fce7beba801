//! The GraphQL spec's rule for field errors (§6.4.4 "Handling Field Errors"): an error in a
//! *nullable* field makes that field `null`, and the error is listed in `errors`.
//!
//! async-graphql 7 follows it only for errors raised inside a value's own resolution. When a
//! field's resolver or an extension (our authorization check) fails, it drops the field's key from
//! its parent object instead — or makes the parent `null` when every field failed — so a client
//! would see `{"health": "ok"}` where it expects `{"me": null, "health": "ok"}`. This extension,
//! installed outermost, restores the rule. Errors of non-null fields still propagate to the
//! parent, as the spec says.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{Response, ServerError, ServerResult, Value};

pub struct NullOnFieldError;

impl ExtensionFactory for NullOnFieldError {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullOnFieldErrorExtension::default())
    }
}

/// One per request (async-graphql creates extensions per execution).
#[derive(Default)]
struct NullOnFieldErrorExtension {
    /// Errors of fields that were answered `null`, appended to the response at the end.
    caught: Mutex<Vec<ServerError>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullOnFieldErrorExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let caught = std::mem::take(&mut *self.caught.lock().unwrap_or_else(|e| e.into_inner()));
        response.errors.extend(caught);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Err(error) if nullable => {
                self.caught
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(error);
                Ok(Some(Value::Null))
            }
            result => result,
        }
    }
}
