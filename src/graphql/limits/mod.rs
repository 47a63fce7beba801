//! Request limits and the error codes of request errors (issues 5 and 16, ARCHITECTURE §6).
//!
//! async-graphql parses and validates a document before it runs it, but its own limits come too
//! late or not at all for a hostile document:
//! - its parser is recursive and slow (pest), and nothing bounds the size or the nesting of a
//!   document before it runs: an 840 KB document of 120,000 fields cost 90 to 170 ms of CPU to
//!   be refused;
//! - its recursion-depth check and its complexity/depth visitor expand every fragment spread
//!   anew, so a handful of fragments that each spread the next one twice ("fragment bomb") take
//!   exponential time — long before any limit compares a number;
//! - it has no limit on tokens, aliases, root fields or variables, and its errors carry no
//!   `extensions.code`; they also quote the document (a syntax error repeats the whole line, an
//!   unknown field its whole name), so a 900 KB document made a 900 KB answer.
//!
//! [`RequestLimits`] therefore does the parsing itself, in the `prepare_request` hook, in five
//! steps, each linear in the text and refused at the first excess, and hands the parsed document
//! on (`Request::set_parsed_query`):
//! 1. the variables: at most `GRAPHQL_MAX_VARIABLE_VALUES` values in all (each scalar, list and
//!    object counts one), lists and objects nested at most `GRAPHQL_MAX_RECURSIVE_DEPTH` deep
//!    (their bytes are bounded by `GRAPHQL_MAX_BODY_BYTES`, since they come in the body or the
//!    WebSocket message);
//! 2. a lexical pre-scan ([`prescan`]) bounds the document's tokens to
//!    `GRAPHQL_MAX_TOKENS` and the nesting of `{`, `(` and `[` to `GRAPHQL_MAX_RECURSIVE_DEPTH`
//!    before the parser sees the text;
//! 3. parsing; a syntax error is `GRAPHQL_PARSE_FAILED`, its message quoting a short excerpt;
//! 4. one pass over every operation and fragment definition, each fragment summarised once and
//!    the summary reused at every spread (so the counts are those of the fully expanded
//!    document, fragments cannot hide aliases or root fields, and a cycle is found — never
//!    followed — by marking the fragments being summarised): nesting through spreads, aliases
//!    and root fields per operation, and the number of fields after expansion, which bounds the
//!    work of everything async-graphql does next;
//! 5. the selected operation: over `GET`, only a query may run.
//!
//! The `validation` hook then tags async-graphql's validation errors with
//! `GRAPHQL_VALIDATION_FAILED`, shortens what they quote of the document, drops "Did you mean"
//! suggestions when introspection is off (they would name the fields introspection hides), and
//! applies `GRAPHQL_MAX_DEPTH` and `GRAPHQL_MAX_COMPLEXITY` to the depth and complexity it
//! computed (fields may declare their own cost, see [`connection_complexity`]). All of it applies
//! to every transport, WebSocket included; the HTTP layer maps these codes to HTTP 400 (405 for a
//! non-query over `GET`).
//!
//! One file per step: `variable_values` (1), [`prescan`] (2), `excerpts` (what an error may
//! quote, 3), `shape` with `selection_summary` (4), `operation` (5); the codes and how errors are
//! built in `errors`; the cost of a connection field in `complexity`.

mod complexity;
mod errors;
mod excerpts;
mod operation;
pub mod prescan;
mod selection_summary;
mod shape;
mod variable_values;

#[cfg(test)]
mod tests;

pub use complexity::connection_complexity;
pub use errors::{BAD_REQUEST, PARSE_FAILED, REASON_METHOD_NOT_ALLOWED, VALIDATION_FAILED};
pub(super) use excerpts::syntax_error;
pub use operation::QueriesOnly;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};

use crate::config::GraphqlLimits;
use errors::{coded, limit_error, nesting_error, with_code};
use excerpts::excerpted;
use operation::{check_method, queries_only};
use prescan::Excess;
use shape::check_shape;
use variable_values::check_variables;

/// Validation errors listed in a response; the rest are counted.
const MAX_REPORTED_ERRORS: usize = 50;

/// The limits of one schema; its hooks are called by the schema's extension
/// ([`super::extension`]), in the order of the module documentation.
pub struct RequestLimits {
    settings: Settings,
}

struct Settings {
    limits: GraphqlLimits,
    introspection: bool,
}

impl RequestLimits {
    pub fn new(limits: GraphqlLimits, introspection: bool) -> Self {
        Self {
            settings: Settings {
                limits,
                introspection,
            },
        }
    }

    /// `prepare_request`: steps 1 to 5; the parsed document goes on with the request.
    pub fn prepare(&self, mut request: Request) -> ServerResult<Request> {
        check_variables(&self.settings.limits, &request.variables)?;
        let document = check_document(
            &self.settings,
            &request.query,
            request.operation_name.as_deref(),
            queries_only(&request),
        )?;
        request.set_parsed_query(document);
        Ok(request)
    }

    /// `prepare_request` for a trusted document ([`super::trusted_documents`]), which passed
    /// steps 2 to 4 when its manifest was loaded: steps 1 and 5, and a copy of the parsed
    /// document goes on with the request (cloning it is several times cheaper than parsing).
    pub fn prepare_listed(
        &self,
        mut request: Request,
        document: &ExecutableDocument,
    ) -> ServerResult<Request> {
        check_variables(&self.settings.limits, &request.variables)?;
        check_method(
            document,
            request.operation_name.as_deref(),
            queries_only(&request),
        )?;
        request.set_parsed_query(document.clone());
        Ok(request)
    }

    /// `parse_query`: the document was parsed by [`Self::prepare`]; what fails in async-graphql's
    /// own step is its nesting check (never reached in practice: ours is stricter) or its
    /// directive limit.
    pub fn parse_error(error: ServerError) -> ServerError {
        with_code(error, VALIDATION_FAILED)
    }

    /// `validation`: codes async-graphql's validation errors, bounds what they quote, and
    /// applies the depth and complexity limits to what it computed.
    pub fn validated(
        &self,
        result: Result<ValidationResult, Vec<ServerError>>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = result.map_err(|errors| {
            // A document of thousands of bad arguments must not become a response of
            // megabytes: the first errors are enough to fix it.
            let more = errors.len().saturating_sub(MAX_REPORTED_ERRORS);
            let mut errors: Vec<ServerError> = errors
                .into_iter()
                .take(MAX_REPORTED_ERRORS)
                .map(|mut error| {
                    error.message = self.client_message(std::mem::take(&mut error.message));
                    with_code(error, VALIDATION_FAILED)
                })
                .collect();
            if more > 0 {
                errors.push(coded(
                    format!("…and {more} more validation errors."),
                    None,
                    VALIDATION_FAILED,
                    None,
                ));
            }
            errors
        })?;
        let limits = &self.settings.limits;
        if result.depth > limits.max_depth {
            return Err(vec![limit_error(
                format!(
                    "Query is nested too deep: depth {} exceeds the depth limit of {}.",
                    result.depth, limits.max_depth
                ),
                None,
                "depth",
                limits.max_depth,
            )]);
        }
        if result.complexity > limits.max_complexity {
            return Err(vec![limit_error(
                format!(
                    "Query is too complex: complexity {} exceeds the complexity limit of {}.",
                    result.complexity, limits.max_complexity
                ),
                None,
                "complexity",
                limits.max_complexity,
            )]);
        }
        Ok(result)
    }

    /// A validation error's message as a client sees it: with introspection off, without
    /// async-graphql's "Did you mean …?" (which would name the fields and arguments that
    /// introspection hides); quoting at most an excerpt of what the document said.
    ///
    /// `SchemaBuilder::disable_suggestions` (set by `build_schema` with introspection off) drops
    /// the suggestions for fields and field arguments, but async-graphql still suggests the
    /// arguments of a directive (`@role(nam: …)`: `Did you mean "name"?`); the suffix is cut here
    /// for every kind of suggestion, so none depends on which rule wrote it.
    fn client_message(&self, mut message: String) -> String {
        if !self.settings.introspection
            && let Some(suggestion) = message.find(SUGGESTION)
        {
            message.truncate(suggestion);
        }
        excerpted(message)
    }
}

/// How async-graphql starts a suggestion (`validation/suggestion.rs`), appended to a message.
const SUGGESTION: &str = " Did you mean";

/// Steps 2 to 5 of the module documentation.
fn check_document(
    settings: &Settings,
    query: &str,
    operation_name: Option<&str>,
    queries_only: bool,
) -> ServerResult<ExecutableDocument> {
    let limits = &settings.limits;
    match prescan::scan(query, limits.max_recursive_depth, limits.max_tokens) {
        None => {}
        Some(Excess::Nesting(pos)) => {
            return Err(nesting_error(limits.max_recursive_depth, Some(pos)));
        }
        Some(Excess::Tokens(pos)) => {
            return Err(limit_error(
                format!(
                    "The document is too long: more than {max} tokens (names, punctuation, \
                     values), over the token limit of {max}.",
                    max = limits.max_tokens
                ),
                Some(pos),
                "tokens",
                limits.max_tokens,
            ));
        }
    }
    let document =
        async_graphql::parser::parse_query(query).map_err(|error| syntax_error(query, error))?;
    check_shape(settings, &document)?;
    check_method(&document, operation_name, queries_only)?;
    Ok(document)
}
