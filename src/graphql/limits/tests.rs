use async_graphql::{Value, Variables};

use super::excerpts::{MAX_MESSAGE_CHARS, MAX_QUOTED_CHARS};
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
