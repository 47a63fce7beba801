//! Step 5: the operation the request selects, and over `GET` only a query.

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Pos, Request, ServerResult};

use super::errors::{BAD_REQUEST, REASON_METHOD_NOT_ALLOWED, coded};

/// Request data set by the HTTP layer for `GET /graphql`: only a query may run, since a `GET`
/// must stay free of side effects (GraphQL over HTTP; browsers, proxies and prefetchers replay
/// GETs freely).
pub struct QueriesOnly;

/// Whether the HTTP layer marked the request [`QueriesOnly`] (a `GET`).
pub(super) fn queries_only(request: &Request) -> bool {
    request
        .data
        .contains_key(&std::any::TypeId::of::<QueriesOnly>())
}

/// Step 5: the operation exists and, over `GET`, is a query.
pub(super) fn check_method(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    queries_only: bool,
) -> ServerResult<()> {
    let (ty, pos) = selected_operation(document, operation_name)?;
    if queries_only && ty != OperationType::Query {
        return Err(coded(
            format!("A {ty} cannot be sent with GET, which only runs queries: use POST."),
            Some(pos),
            BAD_REQUEST,
            Some(REASON_METHOD_NOT_ALLOWED),
        ));
    }
    Ok(())
}

/// The operation step 5 checks, with the GraphQL spec's rules (GetOperation).
fn selected_operation(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> ServerResult<(OperationType, Pos)> {
    let mut operations = document.operations.iter();
    let found = match operation_name {
        Some(wanted) => operations.find(|(name, _)| name.is_some_and(|name| name == wanted)),
        None => match (operations.next(), operations.next()) {
            (Some(only), None) => Some(only),
            (Some(_), Some(_)) => {
                return Err(coded(
                    "The document has several operations: name the one to run in \
                     `operationName`."
                        .into(),
                    None,
                    BAD_REQUEST,
                    Some("operation_name_required"),
                ));
            }
            _ => None,
        },
    };
    match found {
        Some((_, operation)) => Ok((operation.node.ty, operation.pos)),
        None => Err(coded(
            format!(
                "Unknown operation named \"{}\".",
                operation_name.unwrap_or_default()
            ),
            None,
            BAD_REQUEST,
            Some("unknown_operation"),
        )),
    }
}
