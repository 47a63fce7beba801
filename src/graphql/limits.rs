//! Request limits and the error codes of request errors (issue 5, ARCHITECTURE §6).
//!
//! async-graphql parses and validates a document before it runs it, but its own limits come too
//! late or not at all for a hostile document:
//! - its parser is recursive, and nothing bounds the nesting of brackets before it runs;
//! - its recursion-depth check and its complexity/depth visitor expand every fragment spread
//!   anew, so a handful of fragments that each spread the next one twice ("fragment bomb") take
//!   exponential time — long before any limit compares a number;
//! - it has no limit on aliases or root fields, and its errors carry no `extensions.code`.
//!
//! [`RequestLimits`] therefore does the parsing itself, in the `prepare_request` hook, in four
//! linear-time steps, and hands the parsed document on (`Request::set_parsed_query`):
//! 1. a lexical scan bounds the nesting of `{`, `(` and `[` (strings and comments skipped) to
//!    `GRAPHQL_MAX_RECURSIVE_DEPTH` before the parser sees the text;
//! 2. parsing; a syntax error is `GRAPHQL_PARSE_FAILED`;
//! 3. one pass over every operation and fragment definition, each fragment summarised once and
//!    the summary reused at every spread (so the counts are those of the fully expanded
//!    document, fragments cannot hide aliases or root fields, and a cycle is found — never
//!    followed — by marking the fragments being summarised): nesting through spreads, aliases
//!    and root fields per operation, and the number of fields after expansion, which bounds the
//!    work of everything async-graphql does next;
//! 4. the selected operation: over `GET`, only a query may run.
//!
//! The `validation` hook then tags async-graphql's validation errors with
//! `GRAPHQL_VALIDATION_FAILED` and applies `GRAPHQL_MAX_DEPTH` and `GRAPHQL_MAX_COMPLEXITY` to
//! the depth and complexity it computed (fields may declare their own cost, see
//! [`connection_complexity`]). All of it applies to every transport, WebSocket included; the
//! HTTP layer maps these codes to HTTP 400 (405 for a non-query over `GET`).

use std::collections::HashMap;

use super::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    ErrorExtensionValues, Pos, Positioned, Request, ServerError, ServerResult, ValidationResult,
    Value,
};

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

    /// `prepare_request`: steps 1 to 4; the parsed document goes on with the request.
    pub fn prepare(&self, mut request: Request) -> ServerResult<Request> {
        let queries_only = request
            .data
            .contains_key(&std::any::TypeId::of::<QueriesOnly>());
        let document = check_document(
            &self.settings,
            &request.query,
            request.operation_name.as_deref(),
            queries_only,
        )?;
        request.set_parsed_query(document);
        Ok(request)
    }

    /// `parse_query`: the document was parsed by [`Self::prepare`]; what fails in async-graphql's
    /// own step is its nesting check (never reached in practice: ours is stricter) or its
    /// directive limit.
    pub fn parse_error(error: ServerError) -> ServerError {
        with_code(error, VALIDATION_FAILED)
    }

    /// `validation`: codes async-graphql's validation errors and applies the depth and
    /// complexity limits to what it computed.
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
                .map(|error| with_code(error, VALIDATION_FAILED))
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
}

/// Steps 1 to 4 of the module documentation.
fn check_document(
    settings: &Settings,
    query: &str,
    operation_name: Option<&str>,
    queries_only: bool,
) -> ServerResult<ExecutableDocument> {
    let limits = &settings.limits;
    if let Some(pos) = lexical_nesting_exceeds(query, limits.max_recursive_depth) {
        return Err(nesting_error(limits.max_recursive_depth, Some(pos)));
    }
    let document = async_graphql::parser::parse_query(query)
        .map_err(|error| with_code(ServerError::from(error), PARSE_FAILED))?;
    check_shape(settings, &document)?;
    let (ty, pos) = selected_operation(&document, operation_name)?;
    if queries_only && ty != OperationType::Query {
        return Err(coded(
            format!("A {ty} cannot be sent with GET, which only runs queries: use POST."),
            Some(pos),
            BAD_REQUEST,
            Some(REASON_METHOD_NOT_ALLOWED),
        ));
    }
    Ok(document)
}

/// The deepest nesting of `{`, `(` and `[` outside strings and comments, checked against `max`
/// as the text is read: the position of the first bracket over the limit, if any. It follows
/// the GraphQL lexer closely enough that nothing it takes for a string or a comment can nest in
/// the parser: a string ends at its closing quote or, unterminated, at the end of the line
/// (where the parser stops with a syntax error).
fn lexical_nesting_exceeds(query: &str, max: usize) -> Option<Pos> {
    let bytes = query.as_bytes();
    let (mut i, mut depth, mut line, mut line_start) = (0, 0usize, 1, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(Pos {
                        line,
                        column: query[line_start..i].chars().count() + 1,
                    });
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                        continue;
                    }
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 3;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// What one selection set selects once its fragments are expanded. Nesting is relative: 1 for
/// a set without nested sets.
#[derive(Clone, Copy, Default)]
struct Summary {
    fields: u64,
    aliases: u64,
    root_fields: u64,
    nesting: usize,
    introspection: bool,
}

impl Summary {
    /// Adds a selection set that sits at the same level (a fragment, an inline fragment).
    fn add_same_level(&mut self, other: &Summary) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
        self.nesting = self.nesting.max(other.nesting);
        self.introspection |= other.introspection;
    }

    /// Adds the selection set of a field.
    fn add_nested(&mut self, other: &Summary) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.nesting = self.nesting.max(other.nesting + 1);
        self.introspection |= other.introspection;
    }
}

enum Fragment {
    /// Being summarised: meeting it again is a cycle.
    Open,
    Done(Summary),
}

enum Refusal {
    /// Nested deeper than the limit (through fields and fragment spreads).
    TooDeep(Pos),
    /// A fragment that spreads itself, directly or not.
    Cycle(String, Pos),
}

struct Summarizer<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, Fragment>,
    /// Selection sets being summarised, one inside the other: bounded by the nesting limit, so
    /// that a chain of thousands of fragments cannot exhaust the stack.
    open_sets: usize,
    max_nesting: usize,
}

impl<'a> Summarizer<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Summary, Refusal> {
        self.open_sets += 1;
        if self.open_sets > self.max_nesting {
            return Err(Refusal::TooDeep(set.pos));
        }
        let mut summary = Summary {
            nesting: 1,
            ..Summary::default()
        };
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    summary.fields = summary.fields.saturating_add(1);
                    summary.root_fields = summary.root_fields.saturating_add(1);
                    if field.alias.is_some() {
                        summary.aliases = summary.aliases.saturating_add(1);
                    }
                    if matches!(field.name.node.as_str(), "__schema" | "__type") {
                        summary.introspection = true;
                    }
                    if !field.selection_set.node.items.is_empty() {
                        let nested = self.selection_set(&field.selection_set)?;
                        summary.add_nested(&nested);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let mut inner = self.selection_set(&fragment.node.selection_set)?;
                    // Like async-graphql's recursion check: a fragment is one level deeper.
                    inner.nesting += 1;
                    summary.add_same_level(&inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(mut inner) = self.fragment(name, spread.pos)? {
                        inner.nesting += 1;
                        summary.add_same_level(&inner);
                    }
                }
            }
        }
        self.open_sets -= 1;
        Ok(summary)
    }

    /// `None` for an unknown fragment, which validation reports.
    fn fragment(&mut self, name: &'a str, pos: Pos) -> Result<Option<Summary>, Refusal> {
        match self.fragments.get(name) {
            Some(Fragment::Open) => return Err(Refusal::Cycle(name.to_string(), pos)),
            Some(Fragment::Done(summary)) => return Ok(Some(*summary)),
            None => {}
        }
        let Some((name, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(None);
        };
        let name = name.as_str();
        self.fragments.insert(name, Fragment::Open);
        let summary = self.selection_set(&definition.node.selection_set)?;
        self.fragments.insert(name, Fragment::Done(summary));
        Ok(Some(summary))
    }
}

/// Step 3: nesting, aliases, root fields, expanded size and introspection, per operation.
fn check_shape(settings: &Settings, document: &ExecutableDocument) -> ServerResult<()> {
    let limits = &settings.limits;
    let mut summarizer = Summarizer {
        document,
        fragments: HashMap::new(),
        open_sets: 0,
        max_nesting: limits.max_recursive_depth,
    };
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
        summarizer.open_sets = 0;
        let summary = summarizer
            .selection_set(&operation.node.selection_set)
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
        summarizer.open_sets = 0;
        let summary = summarizer
            .fragment(name.as_str(), Pos::default())
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
        let error = check_document(&settings(), query, None, false)
            .err()
            .unwrap_or_else(|| panic!("{query} was accepted"));
        let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        };
        (code, error.message)
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "{".repeat(40);
        assert!(lexical_nesting_exceeds(&format!("{{ a(s: \"{deep}\") }}"), 32).is_none());
        assert!(lexical_nesting_exceeds(&format!("{{ a(s: \"\"\"{deep}\"\"\") }}"), 32).is_none());
        assert!(lexical_nesting_exceeds(&format!("{{ a # {deep}\n }}"), 32).is_none());
        // An escaped quote does not end the string; an escaped triple quote not the block.
        assert!(lexical_nesting_exceeds(&format!("{{ a(s: \"\\\"{deep}\") }}"), 32).is_none());
        assert!(
            lexical_nesting_exceeds(&format!("{{ a(s: \"\"\"\\\"\"\"{deep}\"\"\") }}"), 32)
                .is_none()
        );
        let pos = lexical_nesting_exceeds(&format!("{{ a(s: \"x\") }}\n  {deep}"), 32).unwrap();
        assert_eq!((pos.line, pos.column), (2, 35));
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
        let (code, message) = refusal(&chain);
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
