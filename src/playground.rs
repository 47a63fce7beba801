//! The GraphiQL playground, self-hosted: `GET /graphql` serves the page, `GET /playground/<file>`
//! its scripts and styles, `GET /playground/config.json` what the page needs to know at run time.
//!
//! Every file is embedded in the binary: the playground works offline and loads no code from a
//! CDN. GraphiQL, React, ReactDOM and graphql-ws are vendored under `assets/graphiql/` by
//! `scripts/vendor-graphiql` (pinned versions, tarball integrity checked, sha256 of every file in
//! `assets/graphiql/VERSIONS`); `assets/playground/` holds our own page, boot script and styles.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::extract::{ConnectInfo, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;

/// Mints a session token that this server accepts, for the playground page in development.
pub trait DevTokenMinter: Send + Sync {
    fn mint(&self) -> anyhow::Result<String>;
}

#[derive(Clone, Default)]
pub struct PlaygroundOptions {
    /// When set, each page load gets a freshly minted token, pre-filled in the headers editor.
    pub dev_tokens: Option<Arc<dyn DevTokenMinter>>,
}

/// The page loads only files of this server and contains no inline script or event handler, so:
/// - `script-src 'self'`: no inline script, no `eval`, nothing from another host;
/// - `style-src 'self' 'unsafe-inline'`: GraphiQL needs inline styles, both kinds (seen in
///   Chromium under `style-src 'self'`): its dialogs (Radix UI, through react-remove-scroll)
///   inject a `<style>` element, and CodeMirror's jump-to-line box (Alt-G) is HTML with `style`
///   attributes. Inline styles run no code, and with every fetch directive at 'self' injected CSS
///   cannot send anything to another host;
/// - `font-src` and `img-src` `data:`: GraphiQL's stylesheet embeds its fonts as data: URLs;
/// - `connect-src 'self'`: the GraphQL endpoint and the graphql-ws WebSocket, same host only;
/// - no framing (clickjacking), no `<base>`, no form posts, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

const INDEX_HTML: &str = include_str!("../assets/playground/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Served as `/playground/<name>`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "playground.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../assets/playground/playground.js"),
    },
    Asset {
        name: "playground.css",
        content_type: CSS,
        body: include_bytes!("../assets/playground/playground.css"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../assets/graphiql/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("../assets/graphiql/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../assets/graphiql/react/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../assets/graphiql/react-dom/react-dom.production.min.js"),
    },
    Asset {
        name: "graphql-ws.min.js",
        content_type: JAVASCRIPT,
        body: include_bytes!("../assets/graphiql/graphql-ws/graphql-ws.min.js"),
    },
];

/// The page, its asset URLs tagged `?v=<hash of all assets>`: a new build with changed assets
/// gets new URLs, so the assets themselves can be cached as immutable.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for asset in ASSETS {
        digest.update(asset.name.as_bytes());
        digest.update(asset.body);
    }
    let tag: String = digest.finish().as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    INDEX_HTML.replace("{{tag}}", &tag)
});

/// `GET /graphql` (the page) and `GET /playground/*`. Merged into the application router
/// outside the authentication middleware: these routes serve no data, and the page itself sends
/// whatever `Authorization` header the user typed along with its `POST /graphql` requests.
pub fn routes<S: Clone + Send + Sync + 'static>(options: PlaygroundOptions) -> Router<S> {
    let options = Arc::new(options);
    Router::new()
        .route("/graphql", get(page))
        .route(
            "/playground/config.json",
            get(move |peer: ConnectInfo<SocketAddr>, headers: HeaderMap| {
                config(Arc::clone(&options), peer.0, headers)
            }),
        )
        .route("/playground/{file}", get(asset))
        .layer(middleware::map_response(security_headers))
}

async fn page() -> impl IntoResponse {
    // Small, and its asset tag changes with every build: always revalidated.
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE.as_str()))
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn config(
    options: Arc<PlaygroundOptions>,
    peer: SocketAddr,
    headers: HeaderMap,
) -> impl IntoResponse {
    let (dev_token, notice) = match &options.dev_tokens {
        None => (None, None),
        // An admin token for anyone who asks: only for this machine. The Host check also stops
        // a web page that rebinds its own domain name to 127.0.0.1 (DNS rebinding) from
        // reading it, since its requests carry its own host name.
        Some(_) if !is_local(peer, &headers) => (
            None,
            Some(
                "Development mode: a development token is only offered to this machine \
                 (http://localhost…). Mint one where the server runs, from the repository \
                 root: `cargo run -- dev-token --role admin`.",
            ),
        ),
        Some(minter) => match minter.mint() {
            Ok(token) => (
                Some(token),
                Some(
                    "Development mode: a development token, freshly minted for this page, \
                     was pre-filled in the Headers editor.",
                ),
            ),
            Err(error) => {
                tracing::error!(error = %error, "could not mint a development token");
                (
                    None,
                    Some(
                        "Development mode: no development token could be minted; see the server log.",
                    ),
                )
            }
        },
    };
    (
        // A token must not be cached anywhere.
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "endpoint": "/graphql",
            "subscriptionEndpoint": "/graphql/ws",
            "devToken": dev_token,
            "notice": notice,
        })),
    )
}

/// A loopback peer that addressed us by a loopback name.
fn is_local(peer: SocketAddr, headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    peer.ip().is_loopback() && matches!(name, "localhost" | "127.0.0.1" | "::1")
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
