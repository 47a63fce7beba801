//! Hostile documents and variables (issue 16): no schema leaks through suggestions when
//! introspection is off, documents refused by their token count before they are parsed,
//! variables bounded, and error messages that quote an excerpt, never the whole input. Each test
//! runs in production mode (introspection off, default limits) unless it says otherwise, and
//! ends by checking the server still serves.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, GRAPHQL_RESPONSE_JSON, GraphqlReply, TestApp, spawn_app, spawn_app_with,
};
use crate::limits::assert_still_serving;

/// Production as deployed: introspection and playground off by default (the key source is the
/// fake Clerk's, as in every test).
async fn production() -> TestApp {
    spawn_app_with(AppOptions::default().var("APP_ENV", "production")).await
}

/// A request with variables, accepting what `post_graphql` accepts.
async fn post_json(app: &TestApp, body: &Value) -> GraphqlReply {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", GRAPHQL_RESPONSE_JSON)
        .json(body)
        .send()
        .await
        .expect("request sent");
    GraphqlReply::read(response).await
}

/// 400 with `code`, no `data`, and a body of at most `max_bytes`.
#[track_caller]
fn assert_refused_small(reply: &GraphqlReply, code: &str, max_bytes: usize) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "body: {:.500}",
        reply.body
    );
    assert_eq!(reply.code(), Some(code), "body: {:.500}", reply.body);
    assert!(
        reply.body.get("data").is_none(),
        "body: {:.500}",
        reply.body
    );
    let size = reply.body.to_string().len();
    assert!(
        size <= max_bytes,
        "{size} bytes of answer: {:.500}",
        reply.body
    );
}

/// Misspelled names, and the name a suggestion would give away.
const MISSPELLED: [(&str, &str); 6] = [
    ("{ helth }", "\"health\""),
    ("{ adminNot { id } }", "\"adminNote\""),
    (r#"mutation { ech(message: "x") }"#, "\"echo\""),
    ("{ me { mail } }", "\"email\""),
    // A field argument, and a directive argument: async-graphql's switch does not cover the
    // latter, which names the argument of the `@role` mark.
    ("{ users(firs: 1) { nodes { id } } }", "\"first\""),
    (r#"{ health @role(nam: "admin") }"#, "\"name\""),
];

/// The messages of a refusal's errors.
fn messages(reply: &GraphqlReply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn with_introspection_off_no_error_suggests_a_name() {
    let app = production().await;
    for (query, suggestion) in MISSPELLED {
        let reply = app.post_graphql(query, &[]).await;
        assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 1000);
        let body = reply.body.to_string();
        assert!(
            !body.contains("Did you mean") && !body.contains(suggestion),
            "{query}: {body}"
        );
        // Still says what is wrong.
        assert!(
            messages(&reply).iter().any(|m| m.starts_with("Unknown")),
            "{query}: {body}"
        );
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn with_introspection_on_suggestions_help_as_before() {
    let app = spawn_app().await;
    for (query, suggestion) in MISSPELLED {
        let reply = app.post_graphql(query, &[]).await;
        assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 1000);
        assert!(
            messages(&reply)
                .iter()
                .any(|m| m.contains(&format!("Did you mean {suggestion}"))),
            "{query}: {}",
            reply.body
        );
    }
    assert_still_serving(&app).await;
}

/// The decision of README ("No schema leaks with introspection off"): with introspection off, the
/// type name of an object a caller reaches through an interface or a union stays readable
/// (GraphQL clients ask for it in every selection), and it is all a denied caller learns.
#[tokio::test]
async fn typename_of_a_denied_member_names_its_type_and_nothing_else() {
    let app = production().await;
    let reply = app
        .post_graphql(
            r#"{ note(id: "admin") { __typename } node(id: "admin") { __typename } }"#,
            &[],
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"data": {"note": {"__typename": "AdminNote"}, "node": {"__typename": "AdminNote"}}})
    );
    // Its fields are denied: a denied non-null field nulls the object, type name included.
    let reply = app
        .post_graphql(
            r#"{ note(id: "admin") { __typename ... on AdminNote { id text } }
                 node(id: "admin") { __typename id } }"#,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"note": null, "node": null}),
        "body: {}",
        reply.body
    );
    assert!(
        !reply.body.to_string().contains("the admin note"),
        "body: {}",
        reply.body
    );
    let codes: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["extensions"]["code"].as_str().unwrap())
        .collect();
    assert!(
        !codes.is_empty() && codes.iter().all(|code| *code == "UNAUTHENTICATED"),
        "body: {}",
        reply.body
    );
}

/// 120,000 fields, 60,000 variable definitions, 70,000 aliases: each refused by the token limit
/// before it is parsed, with a short answer.
#[tokio::test]
async fn documents_of_many_tokens_are_refused_before_they_are_parsed() {
    let app = production().await;
    let fields = format!("{{ {}}}", "health ".repeat(120_000));
    let definitions = format!(
        "query Q({}) {{ health }}",
        (0..60_000)
            .map(|i| format!("$v{i}: Int"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let aliases = format!(
        "{{ {} }}",
        (0..70_000)
            .map(|i| format!("a{i}: health"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for document in [&fields, &definitions, &aliases] {
        assert!(document.len() > 750_000, "{}", document.len());
        let reply = app.post_graphql(document, &[]).await;
        assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 500);
        let error = &reply.body["errors"][0];
        assert_eq!(error["extensions"]["limit"], "tokens", "{}", reply.body);
        assert_eq!(error["extensions"]["max"], 1000, "{}", reply.body);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("token limit of 1000"),
            "{}",
            reply.body
        );
        assert_eq!(error["locations"][0]["line"], 1, "{}", reply.body);
    }

    // GraphiQL's introspection query, every option on, is well within the default (181 tokens),
    // and over a limit set just below its count.
    let introspection = spawn_app().await;
    let reply = introspection
        .post_graphql(GRAPHIQL_INTROSPECTION, &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "body: {:.500}", reply.body);
    assert!(
        reply.body.get("errors").is_none(),
        "body: {:.500}",
        reply.body
    );
    let tight = spawn_app_with(AppOptions::default().var("GRAPHQL_MAX_TOKENS", "180")).await;
    let reply = tight.post_graphql(GRAPHIQL_INTROSPECTION, &[]).await;
    assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 500);
    assert_eq!(reply.body["errors"][0]["extensions"]["limit"], "tokens");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn errors_quote_an_excerpt_not_the_document() {
    let app = production().await;
    let a = "a".repeat(900_000);

    let unterminated = format!("{{ health(x: \"{a}");
    let reply = app.post_graphql(&unterminated, &[]).await;
    assert_refused_small(&reply, "GRAPHQL_PARSE_FAILED", 500);
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Syntax error at line 1, column 13")
            && message.contains(&format!("`\"{}…`", &a[..39])),
        "{message}"
    );

    let unknown = format!("{{ {a} }}");
    let reply = app.post_graphql(&unknown, &[]).await;
    assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 500);
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("Unknown field \"{}…\" on type \"Query\".", &a[..40])
    );

    // A 900 KB value where a number belongs, in a variable and inline.
    let reply = post_json(
        &app,
        &json!({"query": "query ($n: Int) { users(first: $n) { nodes { id } } }",
                "variables": {"n": a}}),
    )
    .await;
    assert_refused_small(&reply, "BAD_USER_INPUT", 1000);
    let inline = format!("{{ users(first: \"{a}\") {{ nodes {{ id }} }} }}");
    let reply = app.post_graphql(&inline, &[]).await;
    assert_refused_small(&reply, "GRAPHQL_VALIDATION_FAILED", 1000);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn variables_are_bounded_in_values_and_nesting() {
    let app = production().await;
    let query = "query ($ids: [ID!]) { health }";
    // Unused variables are read all the same: they are bounded too.
    let within = post_json(
        &app,
        &json!({"query": "{ health }", "variables": {"ids": vec!["x"; 9_999]}}),
    )
    .await;
    assert_eq!(within.body, json!({"data": {"health": "ok"}}));

    let many = post_json(
        &app,
        &json!({"query": query, "variables": {"ids": vec!["x"; 200_000]}}),
    )
    .await;
    assert_refused_small(&many, "GRAPHQL_VALIDATION_FAILED", 500);
    assert_eq!(
        many.body["errors"][0]["extensions"]["limit"],
        "variableValues"
    );
    assert_eq!(many.body["errors"][0]["extensions"]["max"], 10_000);

    let deep: Value =
        serde_json::from_str(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let nested = post_json(&app, &json!({"query": query, "variables": {"ids": deep}})).await;
    assert_refused_small(&nested, "GRAPHQL_VALIDATION_FAILED", 500);
    assert_eq!(
        nested.body["errors"][0]["extensions"]["limit"],
        "recursiveDepth"
    );

    // Both follow their variables.
    let tight =
        spawn_app_with(AppOptions::default().var("GRAPHQL_MAX_VARIABLE_VALUES", "10")).await;
    let reply = post_json(
        &tight,
        &json!({"query": "{ health }", "variables": {"ids": vec!["x"; 10]}}),
    )
    .await;
    assert_eq!(reply.body["errors"][0]["extensions"]["max"], 10);
    assert_still_serving(&app).await;
}

/// GraphiQL 3.9's introspection query (graphql-js `getIntrospectionQuery`) with every option on:
/// descriptions, `specifiedByURL`, `isRepeatable`, the schema's description, deprecated input
/// values and `isOneOf`.
const GRAPHIQL_INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        description
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      isOneOf
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
"#;
