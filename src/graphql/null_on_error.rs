//! The GraphQL spec's rule for field errors (§6.4.4 "Handling Field Errors"): an error in a
//! *nullable* field makes that field `null`, and the error is listed in `errors`.
//!
//! async-graphql 7 follows it only for errors raised inside a value's own resolution. When a
//! field's resolver or an extension (our authorization check) fails, it drops the field's key from
//! its parent object instead — or makes the parent `null` when every field failed — so a client
//! would see `{"health": "ok"}` where it expects `{"me": null, "health": "ok"}`. The schema's
//! extension ([`super::extension`]) passes every field's result through [`CaughtErrors::catch`],
//! outermost, and appends what was caught to the response. Errors of non-null fields still
//! propagate to the parent, as the spec says.

use std::sync::Mutex;

use async_graphql::{Response, ServerError, ServerResult, Value};

/// One request's errors of fields that were answered `null`.
#[derive(Default)]
pub struct CaughtErrors(Mutex<Vec<ServerError>>);

impl CaughtErrors {
    /// A field's result as the spec wants it: a failed nullable field (its type does not end in
    /// `!`) is `null`, its error kept.
    pub fn catch(
        &self,
        nullable: bool,
        result: ServerResult<Option<Value>>,
    ) -> ServerResult<Option<Value>> {
        match result {
            Err(error) if nullable => {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).push(error);
                Ok(Some(Value::Null))
            }
            result => result,
        }
    }

    /// Appends the caught errors to the response of the execution.
    pub fn append_to(&self, response: &mut Response) {
        let caught = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        response.errors.extend(caught);
    }
}
