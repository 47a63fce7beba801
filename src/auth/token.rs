//! Finding the session token in a request: the `Authorization` header wins (as in Clerk's SDK);
//! otherwise this instance's session cookie.
//!
//! What signed-out frontends send is no token: an empty `Authorization`, `Bearer` alone, and
//! `Bearer null` / `Bearer undefined` (what `` `Bearer ${await getToken()}` `` gives when
//! `getToken()` answers null). Refusing those with 401 would break every public page of a
//! signed-out visitor, and counting them towards the lockout would let one such client lock out
//! its whole office.
//!
//! Cookies, as Clerk sets them: with a publishable key, clerk-js names the cookie
//! `__session_<suffix>` (suffix: the first 8 characters of base64url(SHA-1(publishable key)), so
//! that several Clerk instances on one domain do not overwrite each other) and also writes a
//! plain `__session`; the suffixed one is ours for certain, so it is preferred, and other
//! instances' suffixed cookies are ignored. `__client_uat` ("client updated at") is `0` after
//! sign-out: a `__session` left behind then is stale and not used. An empty cookie value is no
//! cookie. Without a publishable key only the plain `__session` is read.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::AuthFailure;

/// Where the token was found; useful in logs (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCarrier {
    Header,
    Cookie,
}

/// The cookie names of this Clerk instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSource {
    /// `__session_<suffix>` and `__client_uat_<suffix>`, when a publishable key is configured.
    suffixed: Option<SuffixedCookies>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SuffixedCookies {
    session: String,
    client_uat: String,
}

const SESSION: &str = "__session";
const CLIENT_UAT: &str = "__client_uat";

impl TokenSource {
    /// The cookie names for `CLERK_PUBLISHABLE_KEY` (plain `__session` only without one).
    pub fn new(publishable_key: Option<&str>) -> Self {
        Self {
            suffixed: publishable_key.map(|key| {
                let suffix = cookie_suffix(key);
                SuffixedCookies {
                    session: format!("{SESSION}_{suffix}"),
                    client_uat: format!("{CLIENT_UAT}_{suffix}"),
                }
            }),
        }
    }

    /// `Ok(None)` means no token at all: the request is anonymous.
    pub fn extract<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<(&'h str, TokenCarrier)>, AuthFailure> {
        if let Some(token) = bearer_token(headers)? {
            return Ok(Some((token, TokenCarrier::Header)));
        }
        Ok(self
            .session_cookie(headers)
            .map(|token| (token, TokenCarrier::Cookie)))
    }

    fn session_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let mut plain = None;
        let mut suffixed = None;
        let mut plain_uat = None;
        let mut suffixed_uat = None;
        let ours = self.suffixed.as_ref();
        for (name, value) in cookies(headers) {
            if name == CLIENT_UAT {
                plain_uat = plain_uat.or(Some(value));
            } else if ours.is_some_and(|ours| name == ours.client_uat) {
                suffixed_uat = suffixed_uat.or(Some(value));
            } else if value.is_empty() {
                // An empty cookie is no cookie (it must not hide a set one).
            } else if name == SESSION {
                plain = plain.or(Some(value));
            } else if ours.is_some_and(|ours| name == ours.session) {
                suffixed = suffixed.or(Some(value));
            }
        }
        if suffixed_uat.or(plain_uat) == Some("0") {
            return None;
        }
        suffixed.or(plain)
    }
}

/// The token of `Authorization: Bearer <token>`; `None` for the signed-out shapes.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthFailure> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::UnsupportedScheme);
    }
    match token.trim() {
        "" | "null" | "undefined" => Ok(None),
        token => Ok(Some(token)),
    }
}

/// `name=value` pairs of every `Cookie` header.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim(), value.trim()))
        })
}

/// clerk-js's `getCookieSuffix`: the first 8 characters of base64url(SHA-1(publishable key)).
pub fn cookie_suffix(publishable_key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        publishable_key.as_bytes(),
    );
    let mut suffix = URL_SAFE_NO_PAD.encode(digest.as_ref());
    suffix.truncate(8);
    suffix
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PK: &str = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn plain() -> TokenSource {
        TokenSource::new(None)
    }

    #[test]
    fn header_wins_over_cookie_and_scheme_is_case_insensitive() {
        let h = headers(&[("authorization", "bEaReR abc"), ("cookie", "__session=xyz")]);
        assert_eq!(
            plain().extract(&h).unwrap(),
            Some(("abc", TokenCarrier::Header))
        );
    }

    #[test]
    fn signed_out_authorization_shapes_are_no_token() {
        for value in [
            "",
            "  ",
            "Bearer",
            "Bearer ",
            "bearer null",
            "Bearer undefined",
        ] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(plain().extract(&h).unwrap(), None, "{value:?}");
            // The cookie still counts behind an empty header.
            let h = headers(&[("authorization", value), ("cookie", "__session=c")]);
            assert_eq!(
                plain().extract(&h).unwrap(),
                Some(("c", TokenCarrier::Cookie)),
                "{value:?}"
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_and_no_token_is_anonymous() {
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(plain().extract(&h), Err(AuthFailure::UnsupportedScheme));
        assert_eq!(plain().extract(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn the_suffix_is_clerk_js_s() {
        // base64url(SHA-1("pk_test_Y2xlcmsuZXhhbXBsZS5jb20k")), first 8 characters.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, PK.as_bytes());
        let expected: String = URL_SAFE_NO_PAD
            .encode(digest.as_ref())
            .chars()
            .take(8)
            .collect();
        assert_eq!(cookie_suffix(PK), expected);
        assert_eq!(cookie_suffix(PK).len(), 8);
        assert_ne!(
            cookie_suffix(PK),
            cookie_suffix("pk_test_b3RoZXIuZXhhbXBsZS5jb20k")
        );
    }

    #[test]
    fn with_a_publishable_key_our_suffixed_cookie_wins_and_others_are_ignored() {
        let source = TokenSource::new(Some(PK));
        let ours = format!("__session_{}", cookie_suffix(PK));
        let h = headers(&[(
            "cookie",
            &format!("__session=plain; __session_Zz999999=theirs; {ours}=suffixed"),
        )]);
        assert_eq!(
            source.extract(&h).unwrap(),
            Some(("suffixed", TokenCarrier::Cookie))
        );
        let h = headers(&[("cookie", "__session_Zz999999=theirs")]);
        assert_eq!(source.extract(&h).unwrap(), None);
        let h = headers(&[("cookie", "__session_Zz999999=theirs; __session=plain")]);
        assert_eq!(
            source.extract(&h).unwrap(),
            Some(("plain", TokenCarrier::Cookie))
        );
        // Without a publishable key, suffixed cookies are not read at all.
        let h = headers(&[("cookie", &format!("{ours}=suffixed"))]);
        assert_eq!(plain().extract(&h).unwrap(), None);
    }

    #[test]
    fn empty_values_and_a_signed_out_client_are_no_cookie() {
        let source = TokenSource::new(Some(PK));
        let ours = format!("__session_{}", cookie_suffix(PK));
        let h = headers(&[("cookie", &format!("__session=; {ours}=suffixed"))]);
        assert_eq!(
            source.extract(&h).unwrap(),
            Some(("suffixed", TokenCarrier::Cookie))
        );
        let h = headers(&[("cookie", "__session=")]);
        assert_eq!(plain().extract(&h).unwrap(), None);
        let h = headers(&[("cookie", "__session=stale; __client_uat=0")]);
        assert_eq!(plain().extract(&h).unwrap(), None);
        let uat = format!("__client_uat_{}", cookie_suffix(PK));
        let h = headers(&[("cookie", &format!("{ours}=stale; {uat}=0"))]);
        assert_eq!(source.extract(&h).unwrap(), None);
        let h = headers(&[("cookie", "__session=live; __client_uat=1733000000")]);
        assert_eq!(
            plain().extract(&h).unwrap(),
            Some(("live", TokenCarrier::Cookie))
        );
    }
}
