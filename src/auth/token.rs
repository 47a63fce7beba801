//! Finding the session token in a request: the `Authorization` header wins (as in Clerk's SDK);
//! otherwise the `__session` cookie, or a suffixed `__session_<suffix>` one.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

use super::AuthFailure;

/// Where the token was found; useful in logs (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCarrier {
    Header,
    Cookie,
}

/// `Ok(None)` means no token at all: the request is anonymous.
pub fn extract_token(headers: &HeaderMap) -> Result<Option<(&str, TokenCarrier)>, AuthFailure> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthFailure::Malformed)?.trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::UnsupportedScheme);
        }
        return Ok(Some((token.trim(), TokenCarrier::Header)));
    }
    Ok(session_cookie(headers).map(|token| (token, TokenCarrier::Cookie)))
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let mut suffixed = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if name == "__session" {
                return Some(value);
            }
            if suffixed.is_none() && name.starts_with("__session_") {
                suffixed = Some(value);
            }
        }
    }
    suffixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn header_wins_over_cookie_and_scheme_is_case_insensitive() {
        let h = headers(&[("authorization", "bEaReR abc"), ("cookie", "__session=xyz")]);
        assert_eq!(
            extract_token(&h).unwrap(),
            Some(("abc", TokenCarrier::Header))
        );
    }

    #[test]
    fn cookie_plain_before_suffixed() {
        let h = headers(&[(
            "cookie",
            "a=1; __session_Ab12Cd34=suffixed; __session=plain",
        )]);
        assert_eq!(
            extract_token(&h).unwrap(),
            Some(("plain", TokenCarrier::Cookie))
        );
        let h = headers(&[("cookie", "a=1; __session_Ab12Cd34=suffixed")]);
        assert_eq!(
            extract_token(&h).unwrap(),
            Some(("suffixed", TokenCarrier::Cookie))
        );
    }

    #[test]
    fn other_schemes_are_refused_and_no_token_is_anonymous() {
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(extract_token(&h), Err(AuthFailure::UnsupportedScheme));
        assert_eq!(extract_token(&HeaderMap::new()).unwrap(), None);
    }
}
