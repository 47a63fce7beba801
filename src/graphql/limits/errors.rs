//! The codes of request errors (ARCHITECTURE §6), and how a refusal is built: with its code, and
//! for an exceeded limit the limit's name and maximum (`extensions.limit`, `extensions.max`).

use async_graphql::{ErrorExtensionValues, Pos, ServerError, Value};

/// `extensions.code` of a document that is not GraphQL.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// `extensions.code` of a document that does not fit the schema or exceeds a limit.
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
/// `extensions.code` of a request that is not an acceptable GraphQL-over-HTTP request.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// `extensions.reason` of a mutation or subscription sent with `GET` (answered 405).
pub const REASON_METHOD_NOT_ALLOWED: &str = "method_not_allowed";

pub(super) fn nesting_error(max: usize, pos: Option<Pos>) -> ServerError {
    limit_error(
        format!(
            "Query is nested too deep: more than {max} nested levels (selection sets, fragment \
             spreads, brackets), over the recursive depth limit of {max}."
        ),
        pos,
        "recursiveDepth",
        max,
    )
}

pub(super) fn limit_error(
    message: String,
    pos: Option<Pos>,
    limit: &str,
    max: usize,
) -> ServerError {
    let mut error = coded(message, pos, VALIDATION_FAILED, None);
    if let Some(extensions) = &mut error.extensions {
        extensions.set("limit", limit);
        extensions.set("max", Value::from(max as u64));
    }
    error
}

pub(super) fn coded(
    message: String,
    pos: Option<Pos>,
    code: &str,
    reason: Option<&str>,
) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    if let Some(reason) = reason {
        extensions.set("reason", reason);
    }
    let mut error = ServerError::new(message, pos);
    error.extensions = Some(extensions);
    error
}

/// Sets `extensions.code` unless the error already has one.
pub(super) fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}
