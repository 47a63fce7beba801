//! Cross-site request forgery: a request the browser authenticates on its own — with the
//! `__session` cookie, no `Authorization` header — must come from this server's origin or from
//! an origin in `CORS_ALLOWED_ORIGINS`.
//!
//! The rule is the one of Go 1.25's `CrossOriginProtection` (also tower-http 0.7's `CsrfLayer`),
//! decided from headers browsers always send and pages cannot forge:
//! 1. `Sec-Fetch-Site: same-origin` or `none` (typed URL, bookmark): allowed;
//!    any other value (`cross-site`, `same-site`): allowed only when `Origin` is a trusted
//!    origin — a sibling subdomain is a different origin and may be someone else's;
//! 2. without `Sec-Fetch-Site` (older browsers, non-browser clients): allowed when there is no
//!    `Origin` either, when `Origin` is trusted, or when its host is the request's `Host`
//!    (the server's own origin); anything else — including `Origin: null` — is refused.
//!
//! Why not `CsrfLayer` itself: it checks every unsafe request, but only cookie-authenticated
//! ones are forgeable (a page cannot attach someone else's bearer token, and a bearer request
//! from another origin needs a CORS preflight anyway), and scoping it to them would need the
//! headers, which its bypass predicate does not see. It also lets every `GET` through, while a
//! WebSocket upgrade is a `GET` that carries the cookie and is not covered by CORS
//! (cross-site WebSocket hijacking of `/graphql/ws`); here upgrades are checked too.
//! Safe requests (`GET`, `HEAD`, `OPTIONS`) are otherwise let through: over `GET`, `/graphql`
//! runs queries only, and CORS keeps another site from reading the answer.
//!
//! A refused request is 403 with `extensions.code = "FORBIDDEN"`, `reason = "csrf"`. Behind a
//! reverse proxy, forward `Host` and `Origin` unchanged (or list the public origin in
//! `CORS_ALLOWED_ORIGINS`), else older browsers' same-origin requests look cross-site.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::token::{TokenCarrier, TokenSource};
use crate::http::error::ApiError;

/// The origins trusted besides the server's own: `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, Clone, Default)]
pub struct CsrfPolicy {
    trusted: HashSet<String>,
    /// Which cookie carries the session (what makes a request cookie-authenticated).
    tokens: TokenSource,
}

impl CsrfPolicy {
    pub fn new(trusted_origins: &[String], tokens: TokenSource) -> Self {
        Self {
            trusted: trusted_origins
                .iter()
                .map(|origin| origin.to_ascii_lowercase())
                .collect(),
            tokens,
        }
    }

    /// Whether the request comes from a page this server trusts (its own origin, or one in
    /// `CORS_ALLOWED_ORIGINS`), or from a client that is not a browser (no `Origin`).
    pub fn trusts_origin_of(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).map(|value| value.to_str()) {
            None => true,
            Some(Ok(origin)) => {
                self.trusted.contains(&origin.to_ascii_lowercase())
                    || is_own_origin(origin, uri, headers)
            }
            Some(Err(_)) => false,
        }
    }

    pub fn allows(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        let cookie_authenticated = matches!(
            self.tokens.extract(headers),
            Ok(Some((_, TokenCarrier::Cookie)))
        );
        if !cookie_authenticated {
            return true;
        }
        // Safe requests pass, but for two that act with the cookie: a WebSocket upgrade, and a
        // GraphQL query over `GET` (an `<img>` on any site can send one: it would spend the
        // victim's quota and read as them, even if the page cannot see the answer).
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let acts = headers.contains_key(header::UPGRADE) || super::graphql::carries_a_request(uri);
        if safe && !acts {
            return true;
        }
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
            .filter(|origin| !origin.is_empty());
        let trusted =
            origin.is_some_and(|origin| self.trusted.contains(&origin.to_ascii_lowercase()));
        match headers.get("sec-fetch-site").map(|value| value.as_bytes()) {
            Some(b"same-origin" | b"none") => return true,
            None | Some(b"") => {}
            Some(_) => return trusted,
        }
        let Some(origin) = origin else {
            return true;
        };
        trusted || is_own_origin(origin, uri, headers)
    }
}

/// The origin is the one the request was sent to: same scheme, host and port. The scheme is
/// `http` (this server speaks plain HTTP), or what a TLS-terminating proxy says in
/// `X-Forwarded-Proto` — a header no cross-site page can add without a CORS preflight.
fn is_own_origin(origin: &str, uri: &Uri, headers: &HeaderMap) -> bool {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https"))
        .map_or("http://", |_| "https://");
    let Some(authority) = origin
        .get(..scheme.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
        .map(|_| &origin[scheme.len()..])
    else {
        return false;
    };
    let host = uri
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
        });
    host.is_some_and(|host| !authority.contains('/') && host.eq_ignore_ascii_case(authority))
}

/// Middleware over the whole router.
pub async fn protect(
    State(policy): State<Arc<CsrfPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if policy.allows(request.method(), request.uri(), request.headers()) {
        return next.run(request).await;
    }
    tracing::info!(
        origin = ?request.headers().get(header::ORIGIN),
        sec_fetch_site = ?request.headers().get("sec-fetch-site"),
        "cross-site cookie-authenticated request refused"
    );
    ApiError::CrossSite.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn allows(method: Method, pairs: &[(&'static str, &'static str)]) -> bool {
        allows_on("/graphql", method, pairs)
    }

    fn allows_on(uri: &str, method: Method, pairs: &[(&'static str, &'static str)]) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("api.example.com"));
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        let policy = CsrfPolicy::new(&["https://app.example.com".into()], TokenSource::default());
        policy.allows(&method, &uri.parse().unwrap(), &headers)
    }

    const COOKIE: (&str, &str) = ("cookie", "__session=token");

    #[test]
    fn cookie_requests_from_other_sites_are_refused() {
        assert!(!allows(
            Method::POST,
            &[COOKIE, ("sec-fetch-site", "cross-site")]
        ));
        assert!(!allows(
            Method::POST,
            &[
                COOKIE,
                ("sec-fetch-site", "same-site"),
                ("origin", "https://evil.example.com")
            ]
        ));
        assert!(!allows(
            Method::POST,
            &[COOKIE, ("origin", "https://evil.test")]
        ));
        assert!(!allows(Method::POST, &[COOKIE, ("origin", "null")]));
        // The own-origin check compares the scheme too.
        assert!(!allows(
            Method::POST,
            &[COOKIE, ("origin", "https://api.example.com")]
        ));
        // A GraphQL query over GET acts with the cookie: checked (what an `<img>` sends).
        assert!(!allows_on(
            "/graphql?query=%7Bme%7Bid%7D%7D",
            Method::GET,
            &[COOKIE, ("sec-fetch-site", "cross-site")]
        ));
        assert!(allows_on(
            "/graphql?query=%7Bme%7Bid%7D%7D",
            Method::GET,
            &[COOKIE, ("sec-fetch-site", "same-origin")]
        ));
        // A WebSocket upgrade is a GET, and still checked.
        assert!(!allows(
            Method::GET,
            &[
                COOKIE,
                ("upgrade", "websocket"),
                ("origin", "https://evil.test")
            ]
        ));
    }

    #[test]
    fn same_origin_trusted_origins_and_other_credentials_pass() {
        assert!(allows(
            Method::POST,
            &[COOKIE, ("sec-fetch-site", "same-origin")]
        ));
        assert!(allows(
            Method::POST,
            &[
                COOKIE,
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example.com")
            ]
        ));
        assert!(allows(
            Method::POST,
            &[COOKIE, ("origin", "http://api.example.com")]
        ));
        assert!(allows(Method::POST, &[COOKIE]));
        assert!(allows(
            Method::GET,
            &[COOKIE, ("sec-fetch-site", "cross-site")]
        ));
        assert!(allows(
            Method::POST,
            &[
                COOKIE,
                ("x-forwarded-proto", "https"),
                ("origin", "https://api.example.com")
            ]
        ));
        assert!(allows(
            Method::POST,
            &[
                COOKIE,
                ("authorization", "Bearer x"),
                ("sec-fetch-site", "cross-site")
            ]
        ));
        assert!(allows(Method::POST, &[("sec-fetch-site", "cross-site")]));
    }
}
