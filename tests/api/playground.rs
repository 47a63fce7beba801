//! The self-hosted GraphiQL playground: page, embedded assets, run-time config, headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use clerk_graphql::playground::{DevTokenMinter, PlaygroundOptions, routes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name} header", response.url()))
        .to_str()
        .unwrap()
}

#[track_caller]
fn assert_security_headers(response: &reqwest::Response) {
    let csp = header(response, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
}

/// The `src="…"` and `href="…"` values of a page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

/// Every `http://` or `https://` URL in `text`.
fn absolute_urls(text: &str) -> Vec<String> {
    ["http://", "https://"]
        .iter()
        .flat_map(|scheme| text.match_indices(scheme))
        .map(|(start, _)| {
            text[start..]
                .split(|c: char| c.is_whitespace() || "\"'`<>)".contains(c))
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn page(app: &TestApp) -> String {
    let response = app.get("/graphql").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert!(header(&response, "content-type").starts_with("text/html"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_page_loads_only_its_own_assets_with_a_strict_csp() {
    let app = spawn_app().await;
    let html = page(&app).await;
    assert!(html.contains("graphiql"));
    // No inline script or inline event handler: the CSP forbids them.
    assert!(!html.contains("<script>"), "inline script in {html}");
    assert!(
        !html.to_lowercase().contains(" onload="),
        "inline handler in {html}"
    );

    let assets = references(&html);
    assert!(
        assets.iter().any(|asset| asset.contains("playground.js")),
        "{assets:?}"
    );
    let mut our_code = html.clone();
    for reference in assets.iter().filter(|r| !r.starts_with("data:")) {
        assert!(
            reference.starts_with("/playground/"),
            "not one of ours: {reference}"
        );
        let response = app.get(reference).await;
        assert_eq!(response.status(), StatusCode::OK, "{reference}");
        assert_security_headers(&response);
        let expected = if reference.contains(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&response, "content-type"), expected, "{reference}");
        assert!(
            header(&response, "cache-control").contains("immutable"),
            "{reference}"
        );
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{reference}");
        if reference.contains("/playground/playground.") {
            our_code.push_str(&body);
        }
    }
    // The HTML, JS and CSS we wrote name no other host.
    let urls = absolute_urls(&our_code);
    assert!(urls.is_empty(), "absolute URLs: {urls:?}");
}

#[tokio::test]
async fn config_has_no_dev_token_without_dev_mode() {
    let app = spawn_app().await;
    let response = app.get("/playground/config.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let config: Value = response.json().await.unwrap();
    assert_eq!(
        config,
        json!({
            "endpoint": "/graphql",
            "subscriptionEndpoint": "/graphql/ws",
            "devToken": null,
            "notice": null,
        })
    );
}

#[tokio::test]
async fn unknown_assets_are_not_found() {
    let app = spawn_app().await;
    for path in [
        "/playground/nope.js",
        "/playground/VERSIONS",
        "/playground/",
        "/playground/graphiql.min.js.map",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_playground_is_not_behind_authentication() {
    // A refused token on POST /graphql is a 401; the page and its assets do not read it.
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", crate::helpers::BROWSER_ACCEPT)
        .header("authorization", "Bearer a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.viewer_with_bearer("a.b.c").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn switched_off_there_is_no_playground() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_PLAYGROUND", "false")).await;
    assert_eq!(
        app.get("/graphql").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    for path in [
        "/playground/config.json",
        "/playground/playground.js",
        "/playground/graphiql.min.js",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.body, json!({"data": {"health": "ok"}}));
}

/// Counts its calls; fails when built with `fail`.
struct Minter {
    calls: AtomicUsize,
    fail: bool,
}

impl DevTokenMinter for Minter {
    fn mint(&self) -> anyhow::Result<String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        anyhow::ensure!(!self.fail, "no signing key");
        Ok(format!("dev-token-{call}"))
    }
}

/// The config a browser on this machine gets: loopback peer, loopback host name (see `is_local`).
async fn dev_config(minter: Arc<Minter>) -> Value {
    dev_config_for_host(minter, "localhost:8080").await
}

/// The config for a request from a loopback peer that names `host`.
async fn dev_config_for_host(minter: Arc<Minter>, host: &str) -> Value {
    let router = routes::<()>(PlaygroundOptions {
        dev_tokens: Some(minter),
    });
    let mut request = axum::http::Request::get("/playground/config.json")
        .header("host", host)
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            50_000,
        ))));
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn dev_mode_mints_a_token_per_page_load() {
    let minter = Arc::new(Minter {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let first = dev_config(Arc::clone(&minter)).await;
    let second = dev_config(Arc::clone(&minter)).await;
    assert_eq!(first["devToken"], "dev-token-1");
    assert_eq!(second["devToken"], "dev-token-2");
    assert!(
        first["notice"]
            .as_str()
            .unwrap()
            .contains("development token"),
        "{first}"
    );

    let failing = Arc::new(Minter {
        calls: AtomicUsize::new(0),
        fail: true,
    });
    let config = dev_config(failing).await;
    assert_eq!(config["devToken"], Value::Null);
    assert!(config["notice"].is_string(), "{config}");
}

#[tokio::test]
async fn away_from_this_machine_the_notice_says_how_to_mint_a_token() {
    let minter = Arc::new(Minter {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let config = dev_config_for_host(Arc::clone(&minter), "playground.example:8080").await;
    assert_eq!(config["devToken"], Value::Null, "{config}");
    assert_eq!(minter.calls.load(Ordering::SeqCst), 0, "no token minted");
    // The one spelling of the command (README, start-up log), runnable from the repository root.
    let notice = config["notice"].as_str().unwrap();
    assert!(
        notice.contains("`cargo run -- dev-token --role admin`"),
        "{notice}"
    );
}
