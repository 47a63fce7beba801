//! Splitting a compact JWS into its parts, before anything is trusted. Nothing here checks a
//! signature; it only refuses what is not even shaped like a Clerk session token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AuthFailure;

/// Clerk session tokens are around 1 KB; Clerk caps the cookie at 4 KB. Anything much larger is
/// refused before any decoding work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// `cat` header of a JWT-template token. It carries no `sid` and outlives the session that minted
/// it, so Clerk's SDK refuses it as a session token (SEC-340); so do we.
const CAT_JWT_TEMPLATE: &str = "cl_B7d4PD222AAA";
/// `cat` header of a machine-to-machine token.
const CAT_M2M: &str = "cl_B7d4PD333AAA";

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    cat: Option<String>,
}

pub struct ParsedToken<'a> {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    /// `base64(header) "." base64(payload)`: what the signature covers.
    pub signing_input: &'a str,
    pub signature: &'a str,
    /// The payload, decoded but not yet trusted.
    pub claims: Map<String, Value>,
}

/// Checks 1 and 2 of ARCHITECTURE §4: shape, then header (`alg` allow-list, `typ`, `cat`).
pub fn parse(token: &str) -> Result<ParsedToken<'_>, AuthFailure> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(AuthFailure::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::Malformed);
    };
    let header: RawHeader = decode_json(header_b64)?;
    let claims: Map<String, Value> = decode_json(payload_b64)?;
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AuthFailure::Malformed)?;

    // The algorithm comes from our allow-list, never from the token: accepting the header's
    // word would allow `none`, or HS256 "signed" with our public key as the HMAC secret
    // (algorithm confusion). Only RSASSA-PKCS1-v1_5 is used by Clerk.
    let algorithm = match header.alg.as_deref() {
        Some("RS256") => Algorithm::RS256,
        Some("RS384") => Algorithm::RS384,
        Some("RS512") => Algorithm::RS512,
        _ => return Err(AuthFailure::InvalidAlgorithm),
    };
    if header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
        return Err(AuthFailure::TypeMismatch);
    }
    if matches!(header.cat.as_deref(), Some(CAT_JWT_TEMPLATE | CAT_M2M)) {
        return Err(AuthFailure::TypeMismatch);
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(ParsedToken {
        algorithm,
        kid: header.kid,
        signing_input,
        signature,
        claims,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthFailure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthFailure::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthFailure::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn garbage_is_malformed() {
        let dots = ".".repeat(16 * 1024);
        for garbage in [
            "",
            "null",
            "abc",
            "a.b.c",
            "YWJj.YWJj.YWJj",
            "a.b.c.d",
            dots.as_str(),
        ] {
            assert_eq!(
                parse(garbage).err(),
                Some(AuthFailure::Malformed),
                "{garbage:.20}"
            );
        }
        // A header that is JSON but not an object.
        assert_eq!(
            parse(&token("[1]", "{}")).err(),
            Some(AuthFailure::Malformed)
        );
    }

    #[test]
    fn algorithms_outside_the_allow_list_are_refused() {
        for alg in ["none", "HS256", "ES256", "PS256", "EdDSA", ""] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                parse(&t).err(),
                Some(AuthFailure::InvalidAlgorithm),
                "{alg}"
            );
        }
        assert_eq!(
            parse(&token("{}", "{}")).err(),
            Some(AuthFailure::InvalidAlgorithm)
        );
        for alg in ["RS256", "RS384", "RS512"] {
            let t = token(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#), "{}");
            assert!(parse(&t).is_ok(), "{alg}");
        }
    }

    #[test]
    fn typ_and_cat_are_checked() {
        let t = token(r#"{"alg":"RS256","typ":"at+jwt"}"#, "{}");
        assert_eq!(parse(&t).err(), Some(AuthFailure::TypeMismatch));
        for cat in [CAT_JWT_TEMPLATE, CAT_M2M] {
            let t = token(&format!(r#"{{"alg":"RS256","cat":"{cat}"}}"#), "{}");
            assert_eq!(parse(&t).err(), Some(AuthFailure::TypeMismatch));
        }
        let t = token(r#"{"alg":"RS256","cat":"cl_B7d4PD111AAA"}"#, "{}");
        assert!(parse(&t).is_ok());
    }
}
