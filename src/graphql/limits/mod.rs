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

pub mod prescan;
mod selection_summary;

use super::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType};
use async_graphql::{
    ErrorExtensionValues, Pos, Positioned, Request, ServerError, ServerResult, ValidationResult,
    Value, Variables,
};
use prescan::Excess;
use selection_summary::{Refusal, SelectionWalker, Summary};

use crate::config::GraphqlLimits;

/// `extensions.code` of a document that is not GraphQL.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// `extensions.code` of a document that does not fit the schema or exceeds a limit.
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
/// `extensions.code` of a request that is not an acceptable GraphQL-over-HTTP request.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// `extensions.reason` of a mutation or subscription sent with `GET` (answered 405).
pub const REASON_METHOD_NOT_ALLOWED: &str = "method_not_allowed";

/// Validation errors listed in a response; the rest are counted.
const MAX_REPORTED_ERRORS: usize = 50;

/// Request data set by the HTTP layer for `GET /graphql`: only a query may run, since a `GET`
/// must stay free of side effects (GraphQL over HTTP; browsers, proxies and prefetchers replay
/// GETs freely).
pub struct QueriesOnly;

/// The cost of a Relay connection field: its children are selected once per item of the page,
/// so they count `first` times (the default page size when absent, at most the maximum; see
/// `pagination`), plus one for the field. Use it on a connection field with
/// `#[graphql(complexity = "crate::graphql::limits::connection_complexity(first, child_complexity)")]`.
pub fn connection_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let max = MAX_PAGE_SIZE as usize;
    let page = first.map_or(DEFAULT_PAGE_SIZE as usize, |n| {
        usize::try_from(n).unwrap_or(0).min(max)
    });
    page.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

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

/// The values in all variables, and how deeply their lists and objects nest, within the limits
/// (step 1). An empty map, the usual case, costs nothing.
fn check_variables(limits: &GraphqlLimits, variables: &Variables) -> ServerResult<()> {
    let mut remaining = limits.max_variable_values;
    for value in variables.values() {
        match count_values(value, 0, limits.max_recursive_depth, &mut remaining) {
            Ok(()) => {}
            Err(VariablesExcess::Values) => {
                let max = limits.max_variable_values;
                return Err(limit_error(
                    format!(
                        "The variables are too large: more than {max} values (each number, \
                         string, list and object counts one), over the variable value limit of \
                         {max}."
                    ),
                    None,
                    "variableValues",
                    max,
                ));
            }
            Err(VariablesExcess::Nesting) => {
                let max = limits.max_recursive_depth;
                return Err(limit_error(
                    format!(
                        "The variables are nested too deep: more than {max} nested lists and \
                         objects, over the recursive depth limit of {max}."
                    ),
                    None,
                    "recursiveDepth",
                    max,
                ));
            }
        }
    }
    Ok(())
}

enum VariablesExcess {
    Values,
    Nesting,
}

/// Counts `value` and what it contains against `remaining`; `enclosing` lists and objects hold
/// it. Stops at the first excess, so the work is bounded by the limits, not by the input (whose
/// nesting serde_json has already bounded to 128 while reading it).
fn count_values(
    value: &Value,
    enclosing: usize,
    max_nesting: usize,
    remaining: &mut usize,
) -> Result<(), VariablesExcess> {
    *remaining = remaining.checked_sub(1).ok_or(VariablesExcess::Values)?;
    match value {
        Value::List(items) => count_nested(items, enclosing + 1, max_nesting, remaining),
        Value::Object(fields) => {
            count_nested(fields.values(), enclosing + 1, max_nesting, remaining)
        }
        _ => Ok(()),
    }
}

/// The items of a list or an object that sits `nesting` levels deep.
fn count_nested<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    nesting: usize,
    max_nesting: usize,
    remaining: &mut usize,
) -> Result<(), VariablesExcess> {
    if nesting > max_nesting {
        return Err(VariablesExcess::Nesting);
    }
    items
        .into_iter()
        .try_for_each(|item| count_values(item, nesting, max_nesting, remaining))
}

/// At most this many characters of one quoted name or value in an error message.
const MAX_QUOTED_CHARS: usize = 40;
/// At most this many characters of an error message.
const MAX_MESSAGE_CHARS: usize = 400;

/// `message` with every quoted run (`"…"`, where async-graphql quotes names and values of the
/// document) cut to [`MAX_QUOTED_CHARS`] and the whole cut to [`MAX_MESSAGE_CHARS`], so that a
/// 900 KB field name is not sent back. Short messages, nearly all of them, are returned as they
/// are.
fn excerpted(message: String) -> String {
    if message.len() <= MAX_QUOTED_CHARS {
        return message;
    }
    let mut out = String::new();
    let (mut quoted, mut run, mut length) = (false, 0, 0);
    for c in message.chars() {
        if c == '"' {
            quoted = !quoted;
            run = 0;
        } else if quoted {
            run += 1;
            if run > MAX_QUOTED_CHARS {
                if run == MAX_QUOTED_CHARS + 1 {
                    out.push('…');
                }
                continue;
            }
        }
        if length == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        length += 1;
    }
    out
}

/// A syntax error (step 3). The parser's own message draws the whole line with a caret under the
/// error, which for a one-line document is the whole document; this one says where, what was
/// expected, and quotes a short excerpt from the error on.
pub(super) fn syntax_error(query: &str, error: async_graphql::parser::Error) -> ServerError {
    let mut server_error = ServerError::from(error.clone());
    if let async_graphql::parser::Error::Syntax { message, start, .. } = &error {
        // pest ends its message with a line `= expected …` (or `= unexpected …`).
        let expected = message
            .lines()
            .last()
            .and_then(|line| line.trim_start().strip_prefix("= "))
            .unwrap_or("unexpected input");
        let mut from_error = query
            .lines()
            .nth(start.line.saturating_sub(1))
            .unwrap_or_default()
            .chars()
            .skip(start.column.saturating_sub(1));
        let excerpt: String = from_error.by_ref().take(MAX_QUOTED_CHARS).collect();
        let more = if from_error.next().is_some() {
            "…"
        } else {
            ""
        };
        server_error.message = format!(
            "Syntax error at line {}, column {}: {expected}, near `{excerpt}{more}`.",
            start.line, start.column
        );
    }
    with_code(server_error, PARSE_FAILED)
}

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

/// Whether the HTTP layer marked the request [`QueriesOnly`] (a `GET`).
fn queries_only(request: &Request) -> bool {
    request
        .data
        .contains_key(&std::any::TypeId::of::<QueriesOnly>())
}

/// Step 5: the operation exists and, over `GET`, is a query.
fn check_method(
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

/// Step 3: nesting, aliases, root fields, expanded size and introspection, per operation.
fn check_shape(settings: &Settings, document: &ExecutableDocument) -> ServerResult<()> {
    let limits = &settings.limits;
    let mut walker = SelectionWalker::new(document, limits.max_recursive_depth);
    let refused = |refusal: Refusal| match refusal {
        Refusal::TooDeep(pos) => nesting_error(limits.max_recursive_depth, Some(pos)),
        Refusal::Cycle(name, pos) => coded(
            format!("Cannot spread fragment \"{name}\" within itself."),
            Some(pos),
            VALIDATION_FAILED,
            None,
        ),
    };
    let mut operations_fields = 0u64;
    for (_, operation) in document.operations.iter() {
        let summary = walker
            .operation(&operation.node.selection_set)
            .map_err(refused)?;
        if summary.nesting > limits.max_recursive_depth {
            return Err(nesting_error(
                limits.max_recursive_depth,
                Some(operation.pos),
            ));
        }
        check_operation(settings, operation, &summary)?;
        operations_fields = operations_fields.saturating_add(summary.fields);
    }
    // Fragment definitions are validated on their own too, each expanded: bounded as well, with
    // room for documents built from many nested fragments.
    let mut fragments_fields = 0u64;
    for name in document.fragments.keys() {
        let summary = walker
            .fragment_definition(name.as_str())
            .map_err(refused)?
            .unwrap_or_default();
        fragments_fields = fragments_fields.saturating_add(summary.fields);
    }
    let max_complexity = limits.max_complexity as u64;
    if operations_fields > max_complexity
        || fragments_fields > max_complexity.saturating_mul(FRAGMENTS_FACTOR)
    {
        let fields = operations_fields.max(fragments_fields / FRAGMENTS_FACTOR);
        return Err(limit_error(
            format!(
                "Query is too complex: it selects {fields} fields once fragments are expanded, \
                 over the complexity limit of {max_complexity}."
            ),
            None,
            "complexity",
            limits.max_complexity,
        ));
    }
    Ok(())
}

/// How much larger than the complexity limit the fragment definitions of a document may expand
/// to, in total.
const FRAGMENTS_FACTOR: u64 = 10;

fn check_operation(
    settings: &Settings,
    operation: &Positioned<OperationDefinition>,
    summary: &Summary,
) -> ServerResult<()> {
    let limits = &settings.limits;
    let pos = Some(operation.pos);
    if summary.root_fields > limits.max_root_fields as u64 {
        return Err(limit_error(
            format!(
                "Too many root fields: the operation selects {} fields at its root (fragments \
                 expanded), over the root field limit of {}.",
                summary.root_fields, limits.max_root_fields
            ),
            pos,
            "rootFields",
            limits.max_root_fields,
        ));
    }
    if summary.aliases > limits.max_aliases as u64 {
        return Err(limit_error(
            format!(
                "Too many aliases: the operation uses {} aliases (fragments expanded), over the \
                 alias limit of {}.",
                summary.aliases, limits.max_aliases
            ),
            pos,
            "aliases",
            limits.max_aliases,
        ));
    }
    if summary.introspection && !settings.introspection {
        return Err(coded(
            "Introspection is disabled on this server: `__schema` and `__type` cannot be queried."
                .into(),
            pos,
            VALIDATION_FAILED,
            Some("introspection_disabled"),
        ));
    }
    Ok(())
}

/// Step 4, with the GraphQL spec's rules (GetOperation).
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

fn nesting_error(max: usize, pos: Option<Pos>) -> ServerError {
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

fn limit_error(message: String, pos: Option<Pos>, limit: &str, max: usize) -> ServerError {
    let mut error = coded(message, pos, VALIDATION_FAILED, None);
    if let Some(extensions) = &mut error.extensions {
        extensions.set("limit", limit);
        extensions.set("max", Value::from(max as u64));
    }
    error
}

fn coded(message: String, pos: Option<Pos>, code: &str, reason: Option<&str>) -> ServerError {
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
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            limits: GraphqlLimits::default(),
            introspection: true,
        }
    }

    fn refusal(query: &str) -> (String, String) {
        refusal_with(&settings(), query)
    }

    fn refusal_with(settings: &Settings, query: &str) -> (String, String) {
        let error = check_document(settings, query, None, false)
            .err()
            .unwrap_or_else(|| panic!("{query:.100} was accepted"));
        (code(&error), error.message)
    }

    fn code(error: &ServerError) -> String {
        match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    fn extension(error: &ServerError, name: &str) -> Option<Value> {
        error.extensions.as_ref().and_then(|e| e.get(name)).cloned()
    }

    #[test]
    fn documents_over_the_token_limit_are_refused_before_parsing() {
        // `{ a(x: [1 1 …]) }`: 9 tokens around the list.
        let list = |items: usize| format!("{{ a(x: [{}]) }}", "1 ".repeat(items));
        assert!(check_document(&settings(), &list(991), None, false).is_ok());
        let error = check_document(&settings(), &list(992), None, false)
            .err()
            .unwrap();
        assert_eq!(code(&error), VALIDATION_FAILED);
        assert_eq!(extension(&error, "limit"), Some(Value::from("tokens")));
        assert_eq!(extension(&error, "max"), Some(Value::from(1000u64)));
        assert!(
            error.message.contains("token limit of 1000"),
            "{}",
            error.message
        );
        // Where the 1,001st token is: the closing brace, the last character.
        let last_column = list(992).chars().count();
        assert_eq!(
            (error.locations[0].line, error.locations[0].column),
            (1, last_column)
        );

        // A megabyte is refused as quickly as a kilobyte: the text after the limit is not read.
        let huge = format!("{{ {} }}", "health ".repeat(150_000));
        let started = std::time::Instant::now();
        for _ in 0..100 {
            let (_, message) = refusal(&huge);
            assert!(message.contains("token limit"), "{message}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "{:?} for 100 refusals",
            started.elapsed()
        );
    }

    #[test]
    fn syntax_errors_quote_a_short_excerpt_of_the_document() {
        let unterminated = format!("{{ health(x: \"{}", "a".repeat(900_000));
        let error = check_document(&settings(), &unterminated, None, false)
            .err()
            .unwrap();
        assert_eq!(code(&error), PARSE_FAILED);
        assert!(error.message.len() < 200, "{}", error.message);
        assert!(
            error
                .message
                .starts_with("Syntax error at line 1, column 13: ")
                && error
                    .message
                    .ends_with(&format!("near `\"{}…`.", "a".repeat(39))),
            "{}",
            error.message
        );
        assert_eq!(
            (error.locations[0].line, error.locations[0].column),
            (1, 13)
        );
        // Short documents are quoted whole.
        let (_, message) = refusal("query {\n  health(x: 1\n}");
        assert!(message.starts_with("Syntax error at line 3"), "{message}");
        assert!(message.ends_with("near `}`."), "{message}");
    }

    #[test]
    fn long_names_in_messages_are_cut() {
        let name = "a".repeat(900_000);
        let message = excerpted(format!(
            "Unknown field \"{name}\" on type \"Query\". Did you mean \"health\"?"
        ));
        assert_eq!(
            message,
            format!(
                "Unknown field \"{}…\" on type \"Query\". Did you mean \"health\"?",
                "a".repeat(MAX_QUOTED_CHARS)
            )
        );
        // Not quoted: the whole message is cut.
        let long = excerpted("x ".repeat(1000));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
        let usual = "Unknown field \"helth\" on type \"Query\".".to_string();
        assert_eq!(excerpted(usual.clone()), usual);
    }

    #[test]
    fn suggestions_are_dropped_only_when_introspection_is_off() {
        let message = "Unknown argument \"nam\" on directive \"role\". Did you mean \"name\"?";
        let on = RequestLimits::new(GraphqlLimits::default(), true);
        assert_eq!(on.client_message(message.into()), message);
        let off = RequestLimits::new(GraphqlLimits::default(), false);
        assert_eq!(
            off.client_message(message.into()),
            "Unknown argument \"nam\" on directive \"role\"."
        );
    }

    #[test]
    fn variables_are_bounded_in_values_and_nesting() {
        use serde_json::json;
        let limits = GraphqlLimits::default();
        let check = |limits: &GraphqlLimits, variables: serde_json::Value| {
            check_variables(limits, &Variables::from_json(variables))
        };
        assert!(check(&limits, json!({})).is_ok());
        // 1 + 9,999 values; then one more.
        assert!(check(&limits, json!({"a": vec![1; 9_999]})).is_ok());
        let error = check(&limits, json!({"a": vec![1; 9_998], "b": [1, 2]})).unwrap_err();
        assert_eq!(
            extension(&error, "limit"),
            Some(Value::from("variableValues"))
        );
        assert!(
            error.message.contains("variable value limit of 10000"),
            "{}",
            error.message
        );

        // Lists and objects alike count as a level; a scalar does not.
        let nested = |depth: usize| {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            json!({ "a": serde_json::from_str::<serde_json::Value>(&text).unwrap() })
        };
        assert!(check(&limits, nested(32)).is_ok());
        let error = check(&limits, nested(33)).unwrap_err();
        assert_eq!(
            extension(&error, "limit"),
            Some(Value::from("recursiveDepth"))
        );
        let shallow = GraphqlLimits {
            max_recursive_depth: 2,
            ..GraphqlLimits::default()
        };
        assert!(check(&shallow, json!({"a": {"b": [1]}})).is_ok());
        assert!(check(&shallow, json!({"a": {"b": {"c": 1}}})).is_ok());
        assert!(check(&shallow, json!({"a": {"b": {"c": {}}}})).is_err());
    }

    #[test]
    fn a_fragment_bomb_is_refused_in_linear_time() {
        // Each fragment spreads the next one twice: 2^30 fields once expanded.
        let mut query = String::from("{ viewer { ...F0 } }\n");
        for i in 0..30 {
            query.push_str(&format!(
                "fragment F{i} on Viewer {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F30 on Viewer { userId }\n");
        let limits = GraphqlLimits {
            max_recursive_depth: 64,
            max_depth: 64,
            ..GraphqlLimits::default()
        };
        let settings = Settings {
            limits,
            introspection: true,
        };
        let started = std::time::Instant::now();
        let error = check_document(&settings, &query, None, false)
            .err()
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            error.message.contains("1073741825 fields"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("complexity limit"),
            "{}",
            error.message
        );
    }

    #[test]
    fn fragment_cycles_and_long_chains_are_refused_without_looping() {
        let (code, message) =
            refusal("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }");
        assert_eq!(code, VALIDATION_FAILED);
        assert!(message.contains("within itself"), "{message}");

        let mut chain = String::from("{ ...F0 }\n");
        for i in 0..5000 {
            chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        chain.push_str("fragment F5000 on Query { health }\n");
        // 45,000 tokens: over the default token limit, which would refuse it first.
        let many_tokens = Settings {
            limits: GraphqlLimits {
                max_tokens: 100_000,
                ..GraphqlLimits::default()
            },
            introspection: true,
        };
        let (code, message) = refusal_with(&many_tokens, &chain);
        assert_eq!(code, VALIDATION_FAILED);
        assert!(message.contains("recursive depth limit of 32"), "{message}");
    }

    #[test]
    fn fragments_do_not_hide_aliases_or_root_fields() {
        let aliases: String = (0..10).map(|i| format!("a{i}: health ")).collect();
        let query = format!("{{ ...F ...F ...F ...F }} fragment F on Query {{ {aliases} }}");
        let (code, message) = refusal(&query);
        assert_eq!(code, VALIDATION_FAILED);
        // 40 fields at the root, over 20, is reported first.
        assert!(message.contains("root field limit of 20"), "{message}");

        let query = "{ viewer { ...V ...V ...V ...V } } fragment V on Viewer { \
            a: userId b: userId c: userId d: userId e: userId f: userId g: userId h: userId }";
        let (_, message) = refusal(query);
        assert!(
            message.contains("32 aliases") && message.contains("alias limit of 30"),
            "{message}"
        );
    }

    #[test]
    fn codes_for_syntax_and_operation_selection() {
        assert_eq!(refusal("{ health").0, PARSE_FAILED);
        let (code, _) = refusal("query A { health } query B { health }");
        assert_eq!(code, BAD_REQUEST);
        let error = check_document(&settings(), "mutation { x }", None, true)
            .err()
            .unwrap();
        let reason = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("reason"))
            .cloned();
        assert_eq!(reason, Some(Value::from(REASON_METHOD_NOT_ALLOWED)));
        assert!(check_document(&settings(), "query { health }", None, true).is_ok());
    }

    #[test]
    fn connection_cost_scales_with_the_page() {
        assert_eq!(connection_complexity(Some(100), 3), 301);
        assert_eq!(connection_complexity(None, 3), 61);
        assert_eq!(connection_complexity(Some(10_000), 3), 301);
        assert_eq!(connection_complexity(Some(-5), 3), 4);
    }
}
