//! Which kind of Clerk token a request presents, told from its shape alone, before any key is
//! loaded or Clerk is called (as Clerk's SDK does): a token of a kind that is not accepted is
//! refused for free.
//!
//! Opaque machine tokens carry a case-sensitive prefix: `ak_` (API key), `mt_` (M2M token),
//! `oat_` (OAuth access token). A JWT is an M2M token when its header `cat` is M2M's or its `sub`
//! is a machine's (`mch_…`), an OAuth access token when its header `typ` is `at+jwt` (RFC 9068),
//! else a session token (whose own checks refuse what is neither).

use serde_json::Value;

use super::jwt::{CAT_M2M, decode_object};
use crate::config::TokenKind;

/// What a token looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub kind: TokenKind,
    /// Verified by asking Clerk (`true`), or a JWT verified with the instance's keys.
    pub opaque: bool,
}

pub fn detect(token: &str) -> Detected {
    match opaque_kind(token) {
        Some(kind) => Detected { kind, opaque: true },
        None => Detected {
            kind: jwt_kind(token),
            opaque: false,
        },
    }
}

/// Whether the token is an opaque machine token, which its prefix alone tells.
pub fn is_opaque(token: &str) -> bool {
    opaque_kind(token).is_some()
}

fn opaque_kind(token: &str) -> Option<TokenKind> {
    [
        ("ak_", TokenKind::ApiKey),
        ("mt_", TokenKind::M2m),
        ("oat_", TokenKind::OAuth),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| token.starts_with(prefix).then_some(kind))
}

/// Unparseable parts are left to the session verifier, which names what is wrong.
fn jwt_kind(token: &str) -> TokenKind {
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return TokenKind::Session;
    };
    let Ok(header) = decode_object(header) else {
        return TokenKind::Session;
    };
    let text = |key: &str| header.get(key).and_then(Value::as_str);
    if text("cat") == Some(CAT_M2M) {
        return TokenKind::M2m;
    }
    if matches!(text("typ"), Some("at+jwt" | "application/at+jwt")) {
        return TokenKind::OAuth;
    }
    let machine_subject = decode_object(payload).is_ok_and(|claims| {
        claims
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|sub| sub.starts_with("mch_"))
    });
    if machine_subject {
        TokenKind::M2m
    } else {
        TokenKind::Session
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    fn jwt(header: Value, payload: Value) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", part(header), part(payload))
    }

    #[test]
    fn prefixes_and_jwt_shapes() {
        assert_eq!(detect("ak_123").kind, TokenKind::ApiKey);
        assert_eq!(detect("mt_123").kind, TokenKind::M2m);
        assert_eq!(
            detect("oat_123"),
            Detected {
                kind: TokenKind::OAuth,
                opaque: true
            }
        );
        // Case-sensitive, as Clerk's SDK.
        assert_eq!(detect("AK_123").kind, TokenKind::Session);
        let m2m = jwt(
            json!({"alg": "RS256", "cat": "cl_B7d4PD333AAA"}),
            json!({"sub": "x"}),
        );
        assert_eq!(
            detect(&m2m),
            Detected {
                kind: TokenKind::M2m,
                opaque: false
            }
        );
        let machine = jwt(json!({"alg": "RS256"}), json!({"sub": "mch_1"}));
        assert_eq!(detect(&machine).kind, TokenKind::M2m);
        let oauth = jwt(
            json!({"alg": "RS256", "typ": "at+jwt"}),
            json!({"sub": "user_1"}),
        );
        assert_eq!(detect(&oauth).kind, TokenKind::OAuth);
        let session = jwt(
            json!({"alg": "RS256", "typ": "JWT"}),
            json!({"sub": "user_1"}),
        );
        assert_eq!(detect(&session).kind, TokenKind::Session);
        assert_eq!(detect("not-a-token").kind, TokenKind::Session);
    }
}
