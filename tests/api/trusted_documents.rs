//! Trusted documents (issue 21, point 4): documents named by hash (`extensions.persistedQuery`,
//! `documentId`; POST, GET and WebSocket), `enforce` refusing what the manifest does not list,
//! introspection as configured, `log` logging an unlisted document once, bad manifests refused
//! at start-up, and SIGHUP reloading the manifest (the real binary).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clerk_graphql::config::Config;
use clerk_graphql::server::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{Output, free_port, terminate, wait_until_ready};
use crate::helpers::{
    AppOptions, BROWSER_ACCEPT, GRAPHQL_RESPONSE_JSON, GraphqlReply, TestApp, spawn_app_with,
};
use crate::subscriptions::spawn_with;
use crate::ws_client::{connect, init, next, send, token};

/// The manifest the TypeScript codegen writes (`clients/generate`), as committed.
const CODEGEN_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/clients/typescript/src/generated/persisted-documents.json"
);

/// The hash and text of the codegen manifest's operation `name`.
fn codegen(name: &str) -> (String, String) {
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(CODEGEN_MANIFEST).unwrap()).unwrap();
    manifest
        .into_iter()
        .find_map(|(hash, text)| {
            let text = text.as_str().unwrap().to_string();
            let names = ["query", "mutation", "subscription"].iter().any(|kind| {
                [' ', '(']
                    .iter()
                    .any(|after| text.contains(&format!("{kind} {name}{after}")))
            });
            names.then_some((hash, text))
        })
        .unwrap_or_else(|| panic!("no operation {name} in {CODEGEN_MANIFEST}"))
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text.as_bytes(),
    ))
}

pub(crate) fn apq(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

/// A manifest file of these documents (codegen shape), in a directory kept as long as it is.
pub(crate) fn manifest_of(documents: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persisted-documents.json");
    write_manifest(&path, documents);
    (dir, path)
}

fn write_manifest(path: &Path, documents: &[&str]) {
    let manifest: serde_json::Map<String, Value> = documents
        .iter()
        .map(|text| (sha256_hex(text), json!(text)))
        .collect();
    std::fs::write(path, Value::Object(manifest).to_string()).unwrap();
}

async fn spawn_trusted(manifest: &str, mode: &str) -> TestApp {
    spawn_app_with(
        AppOptions::default()
            .var("GRAPHQL_TRUSTED_DOCUMENTS", manifest)
            .var("GRAPHQL_TRUSTED_DOCUMENTS_MODE", mode),
    )
    .await
}

impl TestApp {
    /// `POST /graphql` with this JSON body, as a current client (graphql-response+json).
    async fn post_body(&self, body: Value) -> GraphqlReply {
        let response = self
            .client
            .post(format!("{}/graphql", self.address))
            .header("accept", GRAPHQL_RESPONSE_JSON)
            .json(&body)
            .send()
            .await
            .unwrap();
        GraphqlReply::read(response).await
    }

    /// `GET /graphql` with these query parameters.
    async fn get_params(&self, params: &[(&str, &str)]) -> GraphqlReply {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/graphql", self.address), params).unwrap();
        let response = self
            .client
            .get(url)
            .header("accept", GRAPHQL_RESPONSE_JSON)
            .send()
            .await
            .unwrap();
        GraphqlReply::read(response).await
    }
}

#[track_caller]
fn assert_request_error(reply: &GraphqlReply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.code(), Some(code), "{}", reply.body);
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn documents_named_by_hash_run_over_post_and_get() {
    let app = spawn_trusted(CODEGEN_MANIFEST, "enforce").await;
    let (health, _) = codegen("Health");
    let ok = json!({"data": {"health": "ok"}});

    let reply = app.post_body(json!({"extensions": apq(&health)})).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));
    let reply = app.post_body(json!({"documentId": health})).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));
    let reply = app
        .post_body(json!({"documentId": format!("sha256:{health}"), "operationName": "Health"}))
        .await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));

    let extensions = apq(&health).to_string();
    let reply = app.get_params(&[("extensions", &extensions)]).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));
    let reply = app.get_params(&[("documentId", &health)]).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));

    // Variables, and their checks, as for a text.
    let (posts, _) = codegen("Posts");
    let reply = app
        .post_body(json!({"extensions": apq(&posts), "variables": {"first": 2}}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["posts"]["nodes"],
        json!([]),
        "{}",
        reply.body
    );
    let (post, _) = codegen("Post");
    let reply = app.post_body(json!({"extensions": apq(&post)})).await;
    assert_request_error(&reply, StatusCode::BAD_REQUEST, "BAD_USER_INPUT");
    // The variables' own bounds hold for a document named by hash (its text is never parsed).
    let many = app
        .post_body(json!({"documentId": posts, "variables": {"extra": vec!["x"; 20_000]}}))
        .await;
    assert_request_error(&many, StatusCode::BAD_REQUEST, "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(
        many.body["errors"][0]["extensions"]["limit"],
        "variableValues"
    );
    let deep: Value =
        serde_json::from_str(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let nested = app
        .post_body(json!({"documentId": posts, "variables": {"extra": deep}}))
        .await;
    assert_request_error(
        &nested,
        StatusCode::BAD_REQUEST,
        "GRAPHQL_VALIDATION_FAILED",
    );
    assert_eq!(
        nested.body["errors"][0]["extensions"]["limit"],
        "recursiveDepth"
    );

    // The marks: a hash does not skip authorization.
    let (notes, _) = codegen("Notes");
    let reply = app.post_body(json!({"documentId": notes})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"]["adminNote"],
        Value::Null,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);

    // GET runs queries only, named by hash too.
    let (echo, _) = codegen("Echo");
    let variables = json!({"message": "hi"}).to_string();
    let reply = app
        .get_params(&[("documentId", &echo), ("variables", &variables)])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.body
    );
    assert_eq!(reply.headers["allow"], "POST");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token("user_echo"))
        .json(&json!({"documentId": echo, "variables": {"message": "hi"}}))
        .send()
        .await
        .unwrap();
    let reply = GraphqlReply::read(response).await;
    assert_eq!(reply.body, json!({"data": {"echo": "user_echo: hi"}}));
}

/// A GET that names a document by hash is a GraphQL request like one with `query`: checked for
/// cross-site use of the cookie, not taken for the playground page.
#[tokio::test]
async fn a_get_by_hash_is_a_graphql_request_for_csrf_and_the_playground() {
    let app = spawn_trusted(CODEGEN_MANIFEST, "enforce").await;
    let (viewer, _) = codegen("Viewer");
    let url = format!("{}/graphql?documentId={viewer}", app.address);
    let cookie = format!("__session={}", token("user_cookie"));
    let get = |site: &'static str| {
        app.client
            .get(&url)
            .header("accept", BROWSER_ACCEPT)
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .send()
    };
    let refused = GraphqlReply::read(get("cross-site").await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.reason(), Some("csrf"));
    let own = GraphqlReply::read(get("same-origin").await.unwrap()).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(
        own.body["data"]["viewer"]["userId"], "user_cookie",
        "{}",
        own.body
    );
}

#[tokio::test]
async fn an_unknown_hash_is_not_found_with_a_manifest_or_without() {
    let unknown = sha256_hex("query Unknown { health }");
    for app in [
        spawn_trusted(CODEGEN_MANIFEST, "enforce").await,
        // No manifest: nothing is registered at run time, so every hash is unknown.
        spawn_app_with(AppOptions::default()).await,
    ] {
        let reply = app.post_body(json!({"extensions": apq(&unknown)})).await;
        assert_request_error(&reply, StatusCode::BAD_REQUEST, "PERSISTED_QUERY_NOT_FOUND");
        let message = reply.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&unknown), "{message}");
        let reply = app.get_params(&[("documentId", &unknown)]).await;
        assert_request_error(&reply, StatusCode::BAD_REQUEST, "PERSISTED_QUERY_NOT_FOUND");
        // A legacy `application/json` client reads request errors from a 200, as for a
        // parse error.
        let reply = app
            .post_graphql("", &[("accept", "application/json")])
            .await;
        assert_eq!(reply.reason(), Some("missing_query"), "{}", reply.body);
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("accept", "application/json")
            .json(&json!({"documentId": unknown}))
            .send()
            .await
            .unwrap();
        let reply = GraphqlReply::read(response).await;
        assert_request_error(&reply, StatusCode::OK, "PERSISTED_QUERY_NOT_FOUND");
        // A malformed hash is a bad request.
        let reply = app.post_body(json!({"documentId": "sha256:xyz"})).await;
        assert_request_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        assert_eq!(reply.reason(), Some("invalid_persisted_query"));
    }
}

#[tokio::test]
async fn enforce_runs_listed_documents_as_text_or_hash_and_refuses_the_rest() {
    let app = spawn_trusted(CODEGEN_MANIFEST, "enforce").await;
    let (health, text) = codegen("Health");
    let ok = json!({"data": {"health": "ok"}});

    let reply = app.post_graphql(&text, &[]).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));
    let reply = app
        .post_body(json!({"query": text, "extensions": apq(&health)}))
        .await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));
    let reply = app.get_params(&[("query", &text)]).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &ok));

    // The same operation, written differently, is another document.
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
    let reply = app.get_params(&[("query", "{ health }")]).await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
    // Text and hash that disagree.
    let (viewer, _) = codegen("Viewer");
    let reply = app
        .post_body(json!({"query": text, "extensions": apq(&viewer)}))
        .await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_HASH_MISMATCH",
    );
    let reply = app
        .post_body(json!({"documentId": health, "extensions": apq(&viewer)}))
        .await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_HASH_MISMATCH",
    );
}

const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } } }";

#[tokio::test]
async fn enforce_lets_introspection_through_only_when_it_is_on() {
    let on = spawn_trusted(CODEGEN_MANIFEST, "enforce").await;
    let reply = on.post_graphql(INTROSPECTION, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query");
    // Reading the schema and something else is not introspection.
    let reply = on
        .post_graphql("{ __schema { queryType { name } } health }", &[])
        .await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );

    let off = spawn_app_with(
        AppOptions::default()
            .var("GRAPHQL_TRUSTED_DOCUMENTS", CODEGEN_MANIFEST)
            .var("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "enforce")
            .var("GRAPHQL_INTROSPECTION", "false"),
    )
    .await;
    let reply = off.post_graphql(INTROSPECTION, &[]).await;
    assert_request_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "PERSISTED_QUERY_NOT_IN_LIST",
    );
}

#[tokio::test]
async fn log_and_off_run_unlisted_documents_and_listed_ones_by_hash() {
    let (health, _) = codegen("Health");
    for mode in ["log", "off"] {
        let app = spawn_trusted(CODEGEN_MANIFEST, mode).await;
        let reply = app.post_graphql("{ health }", &[]).await;
        assert_eq!(reply.body, json!({"data": {"health": "ok"}}), "{mode}");
        let reply = app.post_body(json!({"documentId": health})).await;
        assert_eq!(reply.body, json!({"data": {"health": "ok"}}), "{mode}");
        // The request limits still apply to a text.
        let reply = app.post_graphql("{ health ", &[]).await;
        assert_request_error(&reply, StatusCode::BAD_REQUEST, "GRAPHQL_PARSE_FAILED");
    }
    // The development default with a manifest is `log`: unlisted documents run.
    let app =
        spawn_app_with(AppOptions::default().var("GRAPHQL_TRUSTED_DOCUMENTS", CODEGEN_MANIFEST))
            .await;
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.body, json!({"data": {"health": "ok"}}));
}

/// The start-up error for the manifest `contents` (written to a file), with `vars` added.
async fn start_up_error(contents: &str, vars: &[(&str, &str)]) -> (PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, contents).unwrap();
    let manifest = path.display().to_string();
    let mut env = vec![
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", "sqlite::memory:"),
        ("DEV_MODE", "false"),
        ("GRAPHQL_TRUSTED_DOCUMENTS", manifest.as_str()),
    ];
    env.extend_from_slice(vars);
    let config = Config::from_lookup(|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let error = match Application::build(config).await {
        Ok(_) => panic!("the manifest {contents} was accepted"),
        Err(error) => format!("{error:#}"),
    };
    (path, error)
}

#[tokio::test]
async fn a_bad_manifest_is_refused_at_start_up_naming_the_file_and_the_operation() {
    let (health, text) = codegen("Health");
    let entry = |text: &str| json!({ sha256_hex(text): text }).to_string();
    // The manifest, variables besides it, what the start-up error must say.
    type Case = (String, Vec<(&'static str, &'static str)>, Vec<String>);
    let cases: Vec<Case> =
        vec![
        ("{\"truncated".into(), vec![], vec!["is not JSON".into()]),
        ("[]".into(), vec![], vec!["expected a JSON object".into()]),
        (
            json!({"not-a-hash": text}).to_string(),
            vec![],
            vec!["key `not-a-hash` is not a sha256".into()],
        ),
        (
            json!({ health.replace('6', "7"): text }).to_string(),
            vec![],
            vec!["is not the sha256 of its document `Health`".into(), health.clone()],
        ),
        (
            entry("query Broken { health"),
            vec![],
            vec![format!(
                "document {} does not parse: Syntax error at line 1, column 22",
                sha256_hex("query Broken { health")
            )],
        ),
        (
            entry("query Misspelt { healthh }"),
            vec![],
            vec![
                "operation `Misspelt`".into(),
                "Unknown field \"healthh\" on type \"Query\"".into(),
            ],
        ),
        (
            entry("query Aliased { a: health b: health }"),
            vec![("GRAPHQL_MAX_ALIASES", "1")],
            vec!["operation `Aliased`".into(), "alias limit of 1".into()],
        ),
        (
            entry("mutation Undeclared { echo(message: $m) }"),
            vec![],
            vec!["operation `Undeclared`".into(), "$m".into()],
        ),
        (
            json!({
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha256_hex("query Typo { helth }"),
                                "body": "query Typo { helth }", "name": "Typo", "type": "query"}]
            })
            .to_string(),
            vec![],
            vec!["operation `Typo`".into()],
        ),
    ];
    for (contents, vars, expected) in cases {
        let (path, error) = start_up_error(&contents, &vars).await;
        assert!(
            error.contains(&format!("trusted documents manifest {}", path.display())),
            "{error}"
        );
        for part in expected {
            assert!(error.contains(&part), "`{part}` missing from: {error}");
        }
    }
    // A file that is not there.
    let config = Config::from_lookup(|name| match name {
        "PORT" => Some("0".into()),
        "DATABASE_URL" => Some("sqlite::memory:".into()),
        "DEV_MODE" => Some("false".into()),
        "GRAPHQL_TRUSTED_DOCUMENTS" => Some("/nonexistent/manifest.json".into()),
        _ => None,
    })
    .unwrap();
    let error = format!("{:#}", Application::build(config).await.err().unwrap());
    assert!(
        error.contains("/nonexistent/manifest.json") && error.contains("cannot be read"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_operations_obey_the_same_rule() {
    let app = spawn_with(
        AppOptions::default()
            .var("GRAPHQL_TRUSTED_DOCUMENTS", CODEGEN_MANIFEST)
            .var("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "enforce"),
    )
    .await;
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    init(&mut socket, json!({})).await;
    let (published, _) = codegen("PostPublished");
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {"extensions": apq(&published)}}),
    )
    .await;
    let unknown = sha256_hex("subscription { postPublished { id } }");
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "2", "payload": {"documentId": unknown}}),
    )
    .await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("2"))
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "3", "payload": {"query": "subscription { postPublished { id } }"}}),
    )
    .await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("3"))
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );

    // A post created through a listed mutation, by hash: the subscriber named by hash sees it.
    let (create, _) = codegen("CreatePost");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token("user_a"))
        .json(&json!({
            "extensions": apq(&create),
            "variables": {"input": {"title": "By hash", "published": true}},
        }))
        .send()
        .await
        .unwrap();
    let reply = GraphqlReply::read(response).await;
    assert_eq!(
        reply.body["data"]["createPost"]["title"], "By hash",
        "{}",
        reply.body
    );
    let event = next(&mut socket).await.unwrap();
    assert_eq!(
        (&event["type"], &event["id"]),
        (&json!("next"), &json!("1")),
        "{event}"
    );
    assert_eq!(
        event["payload"]["data"]["postPublished"]["title"],
        "By hash"
    );
    assert_eq!(
        event["payload"]["data"]["postPublished"]["author"]["id"],
        "user_a"
    );
}

/// The real binary, dev mode off, with the manifest `path` and these variables.
fn server(workdir: &Path, port: u16, path: &Path, vars: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"));
    command
        .current_dir(workdir)
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", workdir.join("db.sqlite").display()),
        )
        .env("DEV_MODE", "false")
        .env("GRAPHQL_TRUSTED_DOCUMENTS", path)
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn().expect("server starts")
}

async fn post(client: &reqwest::Client, base: &str, body: Value) -> Value {
    client
        .post(format!("{base}/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn log_mode_logs_each_unlisted_document_once_by_hash_without_variables() {
    const SECRET: &str = "variable-value-7c2f19";
    let listed = "query Listed { health }";
    let (dir, path) = manifest_of(&[listed]);
    let port = free_port();
    let mut child = server(
        dir.path(),
        port,
        &path,
        &[
            ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "log"),
            ("RUST_LOG", "info"),
            ("LOG_FORMAT", "json"),
        ],
    );
    let output = Output::drain(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(20)).await;
    let client = reqwest::Client::new();
    let first = "query First($id: ID!) { post(id: $id) { title } }";
    let second = "query Second { health }";
    for _ in 0..3 {
        let reply = post(
            &client,
            &base,
            json!({"query": first, "variables": {"id": SECRET}}),
        )
        .await;
        assert_eq!(reply["data"], json!({"post": null}), "{reply}");
    }
    assert_eq!(
        post(&client, &base, json!({"query": second})).await["data"]["health"],
        "ok"
    );
    assert_eq!(
        post(&client, &base, json!({"query": listed})).await["data"]["health"],
        "ok"
    );
    assert!(
        terminate(&mut child, Duration::from_secs(30))
            .await
            .success()
    );

    let output = output.text().await;
    let logged: Vec<Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not in the trusted documents manifest"))
        })
        .collect();
    let hashes: Vec<(&str, &str)> = logged
        .iter()
        .map(|line| {
            (
                line["fields"]["hash"].as_str().unwrap(),
                line["fields"]["operation"].as_str().unwrap(),
            )
        })
        .collect();
    let (first_hash, second_hash) = (sha256_hex(first), sha256_hex(second));
    assert_eq!(
        hashes,
        vec![
            (first_hash.as_str(), "First"),
            (second_hash.as_str(), "Second")
        ],
        "{output}"
    );
    assert!(!output.contains(SECRET), "a variable was logged: {output}");
    assert!(
        !output.contains("post(id"),
        "a document was logged: {output}"
    );
    assert!(
        output.contains("trusted documents manifest loaded"),
        "{output}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_manifest_and_a_bad_one_keeps_the_previous() {
    let first = "query First { health }";
    let second = "query Second { health }";
    let (dir, path) = manifest_of(&[first]);
    let port = free_port();
    let mut child = server(
        dir.path(),
        port,
        &path,
        &[
            ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "enforce"),
            ("RUST_LOG", "info"),
        ],
    );
    let output = Output::drain(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(20)).await;
    let client = reqwest::Client::new();
    let code = |reply: &Value| reply["errors"][0]["extensions"]["code"].clone();
    assert_eq!(
        code(&post(&client, &base, json!({"query": second})).await),
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
    let hangup = || {
        let pid = child.id().unwrap().to_string();
        async move {
            let sent = tokio::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .await
                .unwrap();
            assert!(sent.success());
        }
    };

    write_manifest(&path, &[first, second]);
    hangup().await;
    let by_hash = json!({"extensions": apq(&sha256_hex(second))});
    let mut reloaded = false;
    for _ in 0..100 {
        if post(&client, &base, by_hash.clone()).await["data"]["health"] == "ok" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the second document was not allowed after SIGHUP");

    // A manifest with a document that does not validate: the previous one stays in force.
    write_manifest(&path, &[first, "query Third { nosuchfield }"]);
    hangup().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(post(&client, &base, by_hash).await["data"]["health"], "ok");
    assert_eq!(
        code(
            &post(
                &client,
                &base,
                json!({"query": "query Third { nosuchfield }"})
            )
            .await
        ),
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
    assert!(
        terminate(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
    let output = output.text().await;
    assert!(
        output.contains("trusted documents manifest not reloaded")
            && output.contains(&path.display().to_string())
            && output.contains("operation `Third`"),
        "{output}"
    );
}

#[tokio::test]
async fn the_binary_exits_at_start_up_on_a_bad_manifest() {
    let (dir, path) = manifest_of(&["query Typo { helth }"]);
    let mut child = server(dir.path(), free_port(), &path, &[("RUST_LOG", "off")]);
    let output = Output::drain(&mut child);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(!status.success());
    let output = output.text().await;
    assert!(
        output.contains(&format!("trusted documents manifest {}", path.display()))
            && output.contains("operation `Typo`"),
        "{output}"
    );
}
