//! Splitting a compact JWS into its parts, before anything is trusted. Nothing here checks a
//! signature; it only refuses what is not even shaped like a Clerk session token.
//!
//! The header and the payload are read strictly: a member name twice in any object, at any depth,
//! is malformed ([`UniqueMembers`]), and so is a header with `crit`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::AuthFailure;
use crate::config::TokenKind;

/// Clerk session tokens are around 1 KB; Clerk caps the cookie at 4 KB. Anything much larger is
/// refused before any decoding work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// `cat` header of a JWT-template token. It carries no `sid` and outlives the session that minted
/// it, so Clerk's SDK refuses it as a session token (SEC-340); so do we.
const CAT_JWT_TEMPLATE: &str = "cl_B7d4PD222AAA";
/// `cat` header of a machine-to-machine token.
pub const CAT_M2M: &str = "cl_B7d4PD333AAA";

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
    parse_as(token, TokenKind::Session)
}

/// [`parse`] for a JWT of `kind`, whose header says what it is: a session token has no `cat` of
/// a template or M2M token and `typ` absent or `JWT`; an M2M token the M2M `cat` (or none) and
/// the same `typ`; an OAuth access token `typ` `at+jwt` (RFC 9068). An API key is never a JWT.
pub fn parse_as(token: &str, kind: TokenKind) -> Result<ParsedToken<'_>, AuthFailure> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(AuthFailure::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::Malformed);
    };
    let header = decode_object(header_b64)?;
    // RFC 7515 §4.1.11: `crit` names extensions the recipient must understand, or reject the
    // token. We understand none (Clerk sends no `crit`), so its mere presence is a refusal;
    // ignoring it would accept a token whose issuer said it must not be read without them.
    if header.contains_key("crit") {
        return Err(AuthFailure::Malformed);
    }
    let header =
        RawHeader::deserialize(&Value::Object(header)).map_err(|_| AuthFailure::Malformed)?;
    let claims = decode_object(payload_b64)?;
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
    let plain_typ = header.typ.as_deref().is_none_or(|typ| typ == "JWT");
    let access_token_typ = matches!(header.typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
    let cat = header.cat.as_deref();
    let header_fits = match kind {
        TokenKind::Session => plain_typ && !matches!(cat, Some(CAT_JWT_TEMPLATE | CAT_M2M)),
        TokenKind::M2m => plain_typ && cat.is_none_or(|cat| cat == CAT_M2M),
        TokenKind::OAuth => access_token_typ && !matches!(cat, Some(CAT_JWT_TEMPLATE | CAT_M2M)),
        TokenKind::ApiKey => false,
    };
    if !header_fits {
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

/// A base64url part that holds one JSON object, with no member name twice at any depth.
pub fn decode_object(part: &str) -> Result<Map<String, Value>, AuthFailure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthFailure::Malformed)?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    let value = UniqueMembers
        .deserialize(&mut json)
        .map_err(|_| AuthFailure::Malformed)?;
    // Only whitespace may follow, as with `serde_json::from_slice`.
    json.end().map_err(|_| AuthFailure::Malformed)?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(AuthFailure::Malformed),
    }
}

/// Reads a JSON value as serde_json's own `Value` does, except that an object with a member name
/// twice is an error.
///
/// serde_json keeps the last of duplicate members silently: `{"sub":"user_a","sub":"user_b"}`
/// reads as `user_b`, where another parser on the token's way (a proxy, a frontend, a log
/// pipeline) may read `user_a`. RFC 7519 §4 allows rejecting such a token, and a token that
/// means different things to different readers is one to reject. The check costs one comparison
/// per member: `Map::insert` already says whether the name was there.
struct UniqueMembers;

impl<'de> DeserializeSeed<'de> for UniqueMembers {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueMembers {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate member names")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(UniqueMembers)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(UniqueMembers)?;
            if object.insert(name, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(object))
    }
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
    fn a_crit_header_is_refused_whatever_it_lists() {
        for crit in [r#"["exp"]"#, "[]", "null", r#""b64""#] {
            let t = token(&format!(r#"{{"alg":"RS256","crit":{crit}}}"#), "{}");
            assert_eq!(parse(&t).err(), Some(AuthFailure::Malformed), "{crit}");
        }
    }

    #[test]
    fn duplicate_member_names_are_refused_at_any_depth() {
        let header = r#"{"alg":"RS256"}"#;
        for payload in [
            r#"{"sub":"user_a","sub":"user_b"}"#,
            r#"{"sub":"user_a","exp":1,"sub":"user_a"}"#,
            // The same name, escaped differently.
            r#"{"sub":"user_a","s\u0075b":"user_b"}"#,
            r#"{"o":{"rol":"member","rol":"admin"}}"#,
            r#"{"list":[{"a":1,"a":2}]}"#,
        ] {
            assert_eq!(
                parse(&token(header, payload)).err(),
                Some(AuthFailure::Malformed),
                "{payload}"
            );
        }
        for header in [
            r#"{"alg":"RS256","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":"a","kid":"b"}"#,
            r#"{"alg":"RS256","x5t":"a","x5t":"a"}"#,
        ] {
            assert_eq!(
                parse(&token(header, "{}")).err(),
                Some(AuthFailure::Malformed),
                "{header}"
            );
        }
        // Equal names in different objects are not duplicates.
        let nested = token(header, r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#);
        let claims = parse(&nested).expect("distinct members").claims;
        assert_eq!(claims["a"]["a"]["a"], 1);
        assert_eq!(claims["b"][1]["a"], 2);
    }

    #[test]
    fn payloads_read_as_serde_json_reads_them() {
        let payload = r#" {"s":"é\n","i":-3,"u":18446744073709551615,"f":1.5e300,"n":null,
            "b":true,"l":[1,[2,{}]],"o":{"k":"v"}} "#;
        let claims = parse(&token(r#"{"alg":"RS256"}"#, payload)).unwrap().claims;
        let expected: Map<String, Value> = serde_json::from_str(payload).unwrap();
        assert_eq!(claims, expected);
        // Not an object, or something after it.
        for payload in ["[]", "1", r#"{"a":1} x"#, r#"{"a":1}{}"#] {
            assert_eq!(
                parse(&token(r#"{"alg":"RS256"}"#, payload)).err(),
                Some(AuthFailure::Malformed),
                "{payload}"
            );
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
