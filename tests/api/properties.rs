//! Property tests (issue 8): the token front-end, token extraction, the claims normaliser, the
//! Svix verifier and the webhook payload parser, fed arbitrary and adversarial input. Each
//! property compares against a model written here, so "it did not panic" is never the only check.
//!
//! Case counts are fixed per property so that the whole file runs in a few seconds in a debug
//! build; `PROPTEST_SCALE=10 cargo test properties` multiplies them for a longer soak. The fuzz
//! targets in `fuzz/` (`scripts/fuzz`) cover the same entry points with coverage guidance.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use clerk_graphql::auth::clock::FixedClock;
use clerk_graphql::auth::jwks::VerificationKey;
use clerk_graphql::auth::jwt::{self, MAX_TOKEN_BYTES};
use clerk_graphql::auth::keys::KeySource;
use clerk_graphql::auth::org_permissions;
use clerk_graphql::auth::token::{TokenCarrier, TokenSource};
use clerk_graphql::auth::verifier::ClaimRules;
use clerk_graphql::auth::viewer::CLERK_CLAIMS;
use clerk_graphql::auth::{AuthFailure, Verified, Verifier, Viewer};
use clerk_graphql::config::Secret;
use clerk_graphql::webhooks::SigningKeys;
use clerk_graphql::webhooks::event::{self, ClerkEvent};
use clerk_graphql::webhooks::signature::{SignatureError, SignedHeaders, TOLERANCE_SECS};
use jsonwebtoken::DecodingKey;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::tokens::{ISSUER, TestKey};

// ---------------------------------------------------------------------------------------------
// Shared fixtures and strategies
// ---------------------------------------------------------------------------------------------

/// The verifier's fixed clock (Unix seconds).
const NOW: i64 = 1_700_000_000;
const PARTY: &str = "http://localhost:3000";
const AUDIENCE: &str = "https://api.example.test";
const USER: &str = "user_2prop";

/// `cases`, times `PROPTEST_SCALE` when set.
fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ProptestConfig::with_cases(cases.saturating_mul(scale))
}

/// What may refuse a token whose signature is not known to be good (steps 1-3 with a PEM key).
/// A claim-check reason here would be an oracle on a token the caller could not sign.
const FRONT_END: &[AuthFailure] = &[
    AuthFailure::Malformed,
    AuthFailure::InvalidAlgorithm,
    AuthFailure::TypeMismatch,
    AuthFailure::InvalidSignature,
];

/// The PEM-keyed verifier the server builds from `CLERK_JWT_KEY`, with an issuer and an
/// authorized party, at [`NOW`]; with `audience`, also `CLERK_AUDIENCE`.
fn verifier(audience: bool) -> &'static Verifier {
    static PLAIN: OnceLock<Verifier> = OnceLock::new();
    static WITH_AUDIENCE: OnceLock<Verifier> = OnceLock::new();
    let cell = if audience { &WITH_AUDIENCE } else { &PLAIN };
    cell.get_or_init(|| {
        let key = DecodingKey::from_rsa_pem(TestKey::primary().public_pem.as_bytes()).unwrap();
        let keys = KeySource::Pem(Arc::new(VerificationKey {
            key,
            algorithm: None,
        }));
        let rules = ClaimRules {
            issuer: Some(ISSUER.into()),
            authorized_parties: vec![PARTY.into()],
            audience: if audience {
                vec![AUDIENCE.into()]
            } else {
                Vec::new()
            },
            ..ClaimRules::default()
        };
        Verifier::new(keys, rules, FixedClock::at_unix_seconds(NOW))
    })
}

fn verify_with(audience: bool, token: &str) -> Result<Verified, AuthFailure> {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
    }
    RUNTIME.with(|runtime| runtime.block_on(verifier(audience).verify(token)))
}

fn verify(token: &str) -> Result<Verified, AuthFailure> {
    verify_with(false, token)
}

fn valid_claims() -> Value {
    json!({
        "sub": USER, "sid": "sess_prop", "iss": ISSUER, "azp": PARTY,
        "iat": NOW - 5, "nbf": NOW - 15, "exp": NOW + 55,
        "v": 2, "fea": "o:dashboard", "pla": "o:pro",
        "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3"},
        "metadata": {"role": "admin"}
    })
}

/// A valid session token at [`NOW`], signed with the primary test key.
fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| TestKey::primary().sign(&valid_claims()))
}

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strings that matter to the parsers, mixed with arbitrary ones.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "RS256", "RS384", "RS512", "rs256", "RS256 ", "none", "None", "HS256", "ES256",
            "PS256", "EdDSA", "", "JWT", "jwt", "at+jwt", "cl_B7d4PD222AAA", "cl_B7d4PD333AAA",
            "cl_B7d4PD111AAA", "ins_test_primary", "pending", "active", "user_1", "mch_1",
            "org:admin", "o:f", "o:", ":", ",", "0", "-1", "1e3", "\u{0}", "\u{feff}", "é",
        ])
        .prop_map(str::to_string),
        2 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        interesting_string().prop_map(Value::from),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "sub", "exp", "nbf", "iat", "iss", "azp", "aud", "sid", "sts", "v", "o", "fea",
            "pla", "act", "org_id", "org_slug", "org_role", "org_permissions", "metadata", "id",
            "rol", "slg", "per", "fpm", "type", "data", "object", "deleted", "email_addresses",
            "primary_email_address_id", "public_metadata", "updated_at", "created_at",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ]
}

/// Arbitrary JSON, biased towards the keys and values Clerk's payloads use.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((json_key(), json_value()), 0..10)
        .prop_map(|fields| fields.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Token parser and verifier front-end (ARCHITECTURE §4 steps 1-3)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    FlipBit(Index, u8),
    Truncate(Index),
    Swap(Index, Index),
}

fn mutation_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
        ),
        2 => prop::sample::select(b".=+/ \t%\"{}\\,:".to_vec()),
        1 => any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), mutation_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        2 => (any::<Index>(), mutation_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        4 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

fn mutate(token: &str, mutations: &[Mutation]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
            _ if len == 0 => {}
            Mutation::Replace(i, b) => bytes[i.index(len)] = *b,
            Mutation::Delete(i) => {
                bytes.remove(i.index(len));
            }
            Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
            Mutation::Truncate(i) => bytes.truncate(i.index(len)),
            Mutation::Swap(a, b) => bytes.swap(a.index(len), b.index(len)),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn front_end_refusal(result: &Result<Verified, AuthFailure>) -> Result<(), TestCaseError> {
    match result {
        Ok(verified) => Err(TestCaseError::fail(format!(
            "a token that is not the signed one was accepted: {verified:?}"
        ))),
        Err(failure) => {
            prop_assert!(FRONT_END.contains(failure), "{failure:?}");
            prop_assert!(AuthFailure::ALL.contains(failure));
            Ok(())
        }
    }
}

/// How a JWS part is base64url-encoded, and whether the parser must accept that encoding.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Canonical,
    /// With `=` padding: acceptable only when there is none (length a multiple of 3).
    Padded,
    /// The standard alphabet: acceptable only without `+`, `/` or `=`.
    Standard,
    /// A space inside.
    Space(usize),
    /// The last character with non-zero trailing bits (when there are trailing bits).
    NonCanonicalTail,
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        8 => Just(Encoding::Canonical),
        1 => Just(Encoding::Padded),
        1 => Just(Encoding::Standard),
        1 => (0..64usize).prop_map(Encoding::Space),
        1 => Just(Encoding::NonCanonicalTail),
    ]
}

/// The encoded text and whether base64url-without-padding must accept it (the model: written
/// from the encoding rules, not by calling the decoder).
fn encode(bytes: &[u8], encoding: Encoding) -> (String, bool) {
    let canonical = URL_SAFE_NO_PAD.encode(bytes);
    match encoding {
        Encoding::Canonical => (canonical, true),
        Encoding::Padded => (URL_SAFE.encode(bytes), bytes.len().is_multiple_of(3)),
        Encoding::Standard => {
            let text = STANDARD.encode(bytes);
            let ok = !text.contains(['+', '/', '=']);
            (text, ok)
        }
        Encoding::Space(at) => {
            let mut text = canonical;
            text.insert(at.min(text.len()), ' ');
            (text, false)
        }
        Encoding::NonCanonicalTail => {
            if bytes.len().is_multiple_of(3) {
                return (canonical, true);
            }
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut text = canonical.into_bytes();
            let last = text.pop().unwrap();
            let value = ALPHABET.iter().position(|&c| c == last).unwrap();
            // Canonical trailing bits are zero; bit 0 is a trailing bit for both tail lengths.
            text.push(ALPHABET[value | 1]);
            (String::from_utf8(text).unwrap(), false)
        }
    }
}

/// A header field value.
#[derive(Debug, Clone)]
enum HeaderField {
    Str(String),
    Null,
    Other(Value),
}

impl HeaderField {
    fn json(&self) -> String {
        match self {
            Self::Str(s) => Value::from(s.as_str()).to_string(),
            Self::Null => "null".into(),
            Self::Other(v) => v.to_string(),
        }
    }
}

/// What surrounds a JSON text.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Plain,
    Whitespace,
    Bom,
    TrailingGarbage,
}

impl Wrap {
    fn apply(self, text: String) -> (String, bool) {
        match self {
            Self::Plain => (text, true),
            Self::Whitespace => (format!(" \n\t{text}\r\n "), true),
            Self::Bom => (format!("\u{feff}{text}"), false),
            Self::TrailingGarbage => (format!("{text} x"), false),
        }
    }
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        10 => Just(Wrap::Plain),
        1 => Just(Wrap::Whitespace),
        1 => Just(Wrap::Bom),
        1 => Just(Wrap::TrailingGarbage),
    ]
}

#[derive(Debug, Clone)]
enum JsonPart<F> {
    /// An object written field by field (so duplicate keys are possible).
    Object(Vec<(String, F)>, Wrap),
    /// Valid JSON that is not an object.
    NotObject(Value),
}

const HEADER_KEYS: &[&str] = &["alg", "typ", "kid", "cat"];

fn header_part() -> impl Strategy<Value = JsonPart<HeaderField>> {
    let key = prop_oneof![
        4 => prop::sample::select(HEADER_KEYS.to_vec()).prop_map(str::to_string),
        1 => prop::sample::select(vec!["jku", "x5u", "b64", "crit", "ALG"]).prop_map(str::to_string),
    ];
    let field = prop_oneof![
        8 => interesting_string().prop_map(HeaderField::Str),
        1 => Just(HeaderField::Null),
        1 => json_leaf().prop_map(HeaderField::Other),
    ];
    // Mostly a plausible header: `alg` first, then a few fields.
    let fields = (
        prop::option::weighted(0.9, field.clone()),
        prop::collection::vec((key, field), 0..4),
    )
        .prop_map(|(alg, mut rest)| {
            if let Some(alg) = alg {
                rest.insert(0, ("alg".to_string(), alg));
            }
            rest
        });
    prop_oneof![
        12 => (fields, wrap()).prop_map(|(fields, wrap)| JsonPart::Object(fields, wrap)),
        1 => json_leaf().prop_map(JsonPart::NotObject),
    ]
}

fn payload_part() -> impl Strategy<Value = JsonPart<Value>> {
    prop_oneof![
        12 => (prop::collection::vec((json_key(), json_value()), 0..6), wrap())
            .prop_map(|(fields, wrap)| JsonPart::Object(fields, wrap)),
        1 => json_value()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(JsonPart::NotObject),
    ]
}

fn object_text<F>(fields: &[(String, F)], value: impl Fn(&F) -> String) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, f)| format!("{}:{}", Value::from(k.as_str()), value(f)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The header as the model reads it: `None` when it is malformed: any member twice, a `crit`
/// member (we understand no extension), or a known field with a value that is neither a string
/// nor null.
fn model_header(fields: &[(String, HeaderField)]) -> Option<[Option<String>; 4]> {
    let mut known: [Option<Option<String>>; 4] = Default::default();
    let mut names = std::collections::HashSet::new();
    if !fields.iter().all(|(key, _)| names.insert(key)) || names.contains(&"crit".to_string()) {
        return None;
    }
    for (key, field) in fields {
        let Some(slot) = HEADER_KEYS.iter().position(|k| k == key) else {
            continue;
        };
        known[slot] = Some(match field {
            HeaderField::Str(s) => Some(s.clone()),
            HeaderField::Null => None,
            HeaderField::Other(Value::Null) => None,
            HeaderField::Other(Value::String(s)) => Some(s.clone()),
            HeaderField::Other(_) => return None,
        });
    }
    Some(known.map(Option::flatten))
}

#[derive(Debug, Clone)]
struct TokenSpec {
    header: JsonPart<HeaderField>,
    header_encoding: Encoding,
    payload: JsonPart<Value>,
    payload_encoding: Encoding,
    signature: Vec<u8>,
    signature_encoding: Encoding,
    /// 3 parts normally; 2 or 4 sometimes.
    parts: usize,
}

fn token_spec() -> impl Strategy<Value = TokenSpec> {
    (
        header_part(),
        encoding(),
        payload_part(),
        encoding(),
        prop::collection::vec(any::<u8>(), 0..300),
        encoding(),
        prop_oneof![10 => Just(3usize), 1 => Just(2usize), 1 => Just(4usize)],
    )
        .prop_map(
            |(
                header,
                header_encoding,
                payload,
                payload_encoding,
                signature,
                signature_encoding,
                parts,
            )| TokenSpec {
                header,
                header_encoding,
                payload,
                payload_encoding,
                signature,
                signature_encoding,
                parts,
            },
        )
}

/// What the model expects of `jwt::parse`.
#[derive(Debug, PartialEq)]
struct ModelToken {
    kid: Option<String>,
    claims: Map<String, Value>,
}

/// The token text and the model's verdict.
fn build_and_model(spec: &TokenSpec) -> (String, Result<ModelToken, AuthFailure>) {
    let (header_json, header_json_ok, header_fields) = match &spec.header {
        JsonPart::Object(fields, wrap) => {
            let (text, ok) = wrap.apply(object_text(fields, HeaderField::json));
            (text, ok, model_header(fields))
        }
        JsonPart::NotObject(v) => (v.to_string(), false, None),
    };
    let (payload_json, payload_ok, claims) = match &spec.payload {
        JsonPart::Object(fields, wrap) => {
            let (text, mut ok) = wrap.apply(object_text(fields, Value::to_string));
            // A member name twice is malformed. Values as they read back from JSON text (a
            // float may come back one ULP away).
            let mut claims = Map::new();
            for (k, v) in fields {
                let value = serde_json::from_str(&v.to_string()).unwrap();
                ok &= claims.insert(k.clone(), value).is_none();
            }
            (text, ok, claims)
        }
        JsonPart::NotObject(v) => (v.to_string(), false, Map::new()),
    };
    let (header_b64, header_b64_ok) = encode(header_json.as_bytes(), spec.header_encoding);
    let (payload_b64, payload_b64_ok) = encode(payload_json.as_bytes(), spec.payload_encoding);
    let (signature_b64, signature_ok) = encode(&spec.signature, spec.signature_encoding);
    let token = match spec.parts {
        2 => format!("{header_b64}.{payload_b64}"),
        4 => format!("{header_b64}.{payload_b64}.{signature_b64}.{signature_b64}"),
        _ => format!("{header_b64}.{payload_b64}.{signature_b64}"),
    };

    let verdict = (|| {
        if token.len() > MAX_TOKEN_BYTES || spec.parts != 3 {
            return Err(AuthFailure::Malformed);
        }
        let header = match header_fields {
            Some(header) if header_b64_ok && header_json_ok => header,
            _ => return Err(AuthFailure::Malformed),
        };
        if !(payload_b64_ok && payload_ok && signature_ok) {
            return Err(AuthFailure::Malformed);
        }
        let [alg, typ, kid, cat] = header;
        if !matches!(alg.as_deref(), Some("RS256" | "RS384" | "RS512")) {
            return Err(AuthFailure::InvalidAlgorithm);
        }
        if typ.is_some_and(|typ| typ != "JWT") {
            return Err(AuthFailure::TypeMismatch);
        }
        if matches!(cat.as_deref(), Some("cl_B7d4PD222AAA" | "cl_B7d4PD333AAA")) {
            return Err(AuthFailure::TypeMismatch);
        }
        Ok(ModelToken { kid, claims })
    })();
    (token, verdict)
}

proptest! {
    #![proptest_config(config(5000))]

    /// A real token with 1-3 byte-level mutations (replace, insert, delete, bit flip, truncate,
    /// swap) is refused at steps 1-3, with a documented reason; only the untouched token passes.
    #[test]
    fn mutated_tokens_are_refused_before_any_claim_check(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let original = valid_token();
        let mutated = mutate(original, &mutations);
        let result = verify(&mutated);
        if mutated == original {
            prop_assert!(
                matches!(&result, Ok(Verified::SignedIn(viewer)) if viewer.user_id == USER),
                "{result:?}"
            );
        } else {
            front_end_refusal(&result)?;
        }
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Arbitrary strings: never accepted, always a front-end reason, and the verifier says what
    /// the parser says (or, past the parser, that the signature is wrong).
    #[test]
    fn arbitrary_strings_are_refused_with_a_defined_reason(
        token in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_=.+/-]{0,300}",
            (
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 0..300),
            )
                .prop_map(|(h, p, s)| format!("{}.{}.{}", b64url(h), b64url(p), b64url(s))),
            (json_value(), json_value()).prop_map(|(h, p)| {
                format!("{}.{}.{}", b64url(h.to_string()), b64url(p.to_string()), b64url("sig"))
            }),
        ],
    ) {
        let result = verify(&token);
        front_end_refusal(&result)?;
        match jwt::parse(&token) {
            Err(failure) => prop_assert_eq!(result.unwrap_err(), failure),
            Ok(_) => prop_assert_eq!(result.unwrap_err(), AuthFailure::InvalidSignature),
        }
    }

    /// Tokens built from structured parts (header fields of any type, duplicates, BOM, trailing
    /// bytes, padded / standard / spaced / non-canonical base64, 2 or 4 parts) parse exactly as
    /// the model of steps 1-2 says; a token the parser accepts fails on its (random) signature.
    #[test]
    fn the_parser_matches_the_model_of_steps_1_and_2(spec in token_spec()) {
        let (token, expected) = build_and_model(&spec);
        let parsed = jwt::parse(&token).map(|p| ModelToken {
            kid: p.kid.clone(),
            claims: p.claims.clone(),
        });
        prop_assert_eq!(&parsed, &expected, "token {}", token);
        if let Ok(parsed) = jwt::parse(&token) {
            let mut parts = token.split('.');
            let (h, p, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            prop_assert_eq!(parsed.signing_input, format!("{h}.{p}"));
            prop_assert_eq!(parsed.signature, s);
        }
        let result = verify(&token);
        front_end_refusal(&result)?;
        match expected {
            Err(failure) => prop_assert_eq!(result.unwrap_err(), failure),
            Ok(_) => prop_assert_eq!(result.unwrap_err(), AuthFailure::InvalidSignature),
        }
    }
}

/// A valid token whose payload carries `pad` extra characters.
fn padded_token(pad: usize) -> String {
    let mut claims = valid_claims();
    claims["pad"] = json!("x".repeat(pad));
    TestKey::primary().sign(&claims)
}

/// The padding around which a padded token crosses [`MAX_TOKEN_BYTES`].
fn padding_at_the_bound() -> usize {
    static PAD: OnceLock<usize> = OnceLock::new();
    *PAD.get_or_init(|| (MAX_TOKEN_BYTES - padded_token(0).len()) * 3 / 4)
}

#[test]
fn padded_tokens_straddle_the_size_bound() {
    let pad = padding_at_the_bound();
    assert!(padded_token(pad - 24).len() <= MAX_TOKEN_BYTES);
    assert!(padded_token(pad + 24).len() > MAX_TOKEN_BYTES);
}

proptest! {
    #![proptest_config(config(120))]

    /// The size bound: a correctly signed token is accepted up to `MAX_TOKEN_BYTES` and refused
    /// as malformed one byte beyond.
    #[test]
    fn the_size_bound_is_exact(offset in 0..48usize) {
        let token = padded_token(padding_at_the_bound() - 24 + offset);
        let result = verify(&token);
        if token.len() <= MAX_TOKEN_BYTES {
            prop_assert!(matches!(result, Ok(Verified::SignedIn(_))), "{} {result:?}", token.len());
        } else {
            prop_assert_eq!(result.unwrap_err(), AuthFailure::Malformed);
        }
    }

    /// Anything longer than the bound is malformed, whatever it holds.
    #[test]
    fn oversized_input_is_malformed(
        unit in "[A-Za-z0-9._-]{1,16}",
        extra in 1..4096usize,
    ) {
        let mut token = unit.repeat(MAX_TOKEN_BYTES / unit.len() + 1);
        token.push_str(&"A".repeat(extra));
        prop_assert_eq!(jwt::parse(&token).err(), Some(AuthFailure::Malformed));
        prop_assert_eq!(verify(&token).unwrap_err(), AuthFailure::Malformed);
    }
}

#[test]
fn deeply_nested_json_is_malformed_without_overflowing_the_stack() {
    for depth in [200, 100_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let object = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        for payload in [&nested, &object] {
            let token = format!(
                "{}.{}.{}",
                b64url(r#"{"alg":"RS256"}"#),
                b64url(payload),
                b64url("s")
            );
            if token.len() <= MAX_TOKEN_BYTES {
                assert_eq!(jwt::parse(&token).err(), Some(AuthFailure::Malformed));
            }
            assert!(event::parse(payload.as_bytes()).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Claims checks (steps 4-8) on correctly signed tokens with arbitrary claims
// ---------------------------------------------------------------------------------------------

/// A claim that is absent, or has this value.
fn claim(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.85, value)
}

/// Times around [`NOW`] (both sides of each skew boundary), and odd ones.
fn time_claim() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-12i64..12).prop_map(|d| json!(NOW + d)),
        3 => (-12.0f64..12.0).prop_map(|d| json!(NOW as f64 + d)),
        1 => prop::sample::select(vec![
            json!(0), json!(-1), json!(1e300), json!(-1e300), json!(u64::MAX), json!(i64::MIN),
            json!(5e-324), json!("1700000000"), json!(null), json!([NOW]), json!({}), json!(true),
        ]),
    ]
}

fn claims_strategy() -> impl Strategy<Value = Map<String, Value>> {
    let sub = prop_oneof![
        6 => Just(json!(USER)),
        1 => prop::sample::select(vec![json!(""), json!("mch_2x"), json!(1), json!(null), json!(["user_1"])]),
        1 => interesting_string().prop_map(Value::from),
    ];
    let iss = prop_oneof![
        6 => Just(json!(ISSUER)),
        1 => prop::sample::select(vec![json!(format!("{ISSUER}/")), json!(ISSUER.to_uppercase()), json!(1), json!([ISSUER])]),
    ];
    let azp = prop_oneof![
        6 => Just(json!(PARTY)),
        1 => prop::sample::select(vec![json!("http://localhost:3001"), json!(""), json!([PARTY]), json!(null)]),
    ];
    let aud = prop_oneof![
        Just(json!(AUDIENCE)),
        Just(json!([AUDIENCE, "other"])),
        Just(json!(["other", 1, null])),
        Just(json!("other")),
        Just(json!(7)),
    ];
    let sts = prop_oneof![
        Just(json!("pending")),
        Just(json!("active")),
        Just(json!(1))
    ];
    (
        (
            claim(sub),
            claim(time_claim()),
            claim(time_claim()),
            claim(time_claim()),
        ),
        (
            claim(iss),
            claim(azp),
            prop::option::weighted(0.3, aud),
            prop::option::weighted(0.2, sts),
        ),
        json_object(),
    )
        .prop_map(|((sub, exp, nbf, iat), (iss, azp, aud, sts), extra)| {
            let mut claims = extra;
            for (name, value) in [
                ("sub", sub),
                ("exp", exp),
                ("nbf", nbf),
                ("iat", iat),
                ("iss", iss),
                ("azp", azp),
                ("aud", aud),
                ("sts", sts),
            ] {
                match value {
                    Some(value) => claims.insert(name.into(), value),
                    None => claims.remove(name),
                };
            }
            claims
        })
}

/// The expected outcome of steps 4-8 (ARCHITECTURE §4) at [`NOW`] with a 5 s skew: `Ok(None)` for a
/// pending session, `Ok(Some(sub))` for a signed-in one.
fn model_claims(
    claims: &Map<String, Value>,
    audience: bool,
) -> Result<Option<String>, AuthFailure> {
    let (now, skew) = (NOW as f64 * 1000.0, 5000.0);
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(AuthFailure::Malformed),
    };
    if sub.starts_with("mch_") {
        return Err(AuthFailure::TypeMismatch);
    }
    let number = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(AuthFailure::Malformed),
    };
    let exp = number("exp")?.ok_or(AuthFailure::Malformed)?;
    if exp * 1000.0 <= now - skew {
        return Err(AuthFailure::Expired);
    }
    if number("nbf")?.is_some_and(|nbf| nbf * 1000.0 > now + skew) {
        return Err(AuthFailure::NotActiveYet);
    }
    if number("iat")?.is_some_and(|iat| iat * 1000.0 > now + skew) {
        return Err(AuthFailure::IatInTheFuture);
    }
    if claims.get("iss") != Some(&json!(ISSUER)) {
        return Err(AuthFailure::InvalidIssuer);
    }
    if claims.get("azp") != Some(&json!(PARTY)) {
        return Err(AuthFailure::InvalidAuthorizedParty);
    }
    if audience {
        let ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == AUDIENCE,
            Some(Value::Array(list)) => list.contains(&json!(AUDIENCE)),
            _ => false,
        };
        if !ok {
            return Err(AuthFailure::InvalidAudience);
        }
    }
    // The longest lifetime accepted (the default hour), from `iat` or else from now.
    let issued = number("iat")?.unwrap_or(NOW as f64);
    if exp - issued > 3600.0 {
        return Err(AuthFailure::LifetimeTooLong);
    }
    if claims.get("sts") == Some(&json!("pending")) {
        return Ok(None);
    }
    Ok(Some(sub))
}

proptest! {
    #![proptest_config(config(400))]

    /// Correctly signed tokens with arbitrary claims: the outcome is the model's (order of the
    /// checks included), with and without `CLERK_AUDIENCE`; a token seen twice (answered by the
    /// verified-token cache) gets the same answer; the viewer is built without panicking.
    #[test]
    fn signed_claims_are_checked_as_the_model_says(
        claims in claims_strategy(),
        audience in any::<bool>(),
    ) {
        let token = TestKey::primary().sign(&Value::Object(claims));
        // The claims as the verifier reads them back from the token.
        let claims: Map<String, Value> = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        let expected = if token.len() > MAX_TOKEN_BYTES {
            Err(AuthFailure::Malformed)
        } else {
            model_claims(&claims, audience)
        };
        for _ in 0..2 {
            let result = verify_with(audience, &token);
            match (&result, &expected) {
                (Ok(Verified::Pending), Ok(None)) => {}
                (Ok(Verified::SignedIn(viewer)), Ok(Some(sub))) => {
                    prop_assert_eq!(&viewer.user_id, sub);
                    check_viewer(viewer, &claims)?;
                }
                (Err(got), Err(want)) => {
                    prop_assert_eq!(got, want);
                    prop_assert!(AuthFailure::ALL.contains(got));
                }
                _ => prop_assert!(false, "got {result:?}, expected {expected:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token extraction (Authorization header, `__session` cookies)
// ---------------------------------------------------------------------------------------------

/// Bytes a header value may hold (`HeaderValue::from_bytes` accepts them).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(b"Bearer bearer BEARER Basic abc.XYZ_-=;,\t ".to_vec()),
            2 => 0x20u8..0x7f,
            1 => 0x80u8..=0xff,
        ],
        0..40,
    )
}

fn random_case(word: &str, flips: &[bool]) -> String {
    word.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &upper)| {
            if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
enum CookiePair {
    Pair(String, String),
    /// A pair without `=`: skipped.
    Flag(String),
}

fn cookie_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "__session", "__session_Ab12Cd34", "__session_", "__session_x", "__sessionx",
            "__Session", "session", "a", "__client_uat", "x__session", "__session__",
        ])
        .prop_map(str::to_string),
        1 => "[A-Za-z0-9_]{1,10}",
    ]
}

fn cookie_header() -> impl Strategy<Value = (Vec<CookiePair>, String, bool)> {
    let pair = prop_oneof![
        8 => (cookie_name(), "[A-Za-z0-9._=-]{0,24}").prop_map(|(n, v)| CookiePair::Pair(n, v)),
        1 => cookie_name().prop_map(CookiePair::Flag),
    ];
    (
        prop::collection::vec(pair, 0..6),
        prop::sample::select(vec!["; ", ";", " ;  ", ";\t"]),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(pairs, separator, poisoned)| (pairs, separator.to_string(), poisoned))
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any `Authorization` value (any bytes a header may carry), with or without cookies: no
    /// panic; a token only from the header; `Malformed` exactly for non-ASCII values,
    /// `UnsupportedScheme` exactly when the first word is not `bearer` in any case; what
    /// signed-out frontends send (empty, `Bearer` alone, `Bearer null`, `Bearer undefined`) is
    /// no header token at all (the cookie, if any, decides).
    #[test]
    fn any_authorization_header_gives_a_defined_answer(
        value in header_bytes(),
        cookie in prop::option::of("[ -~]{0,40}"),
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_bytes(&value).unwrap());
        if let Some(cookie) = &cookie {
            headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        }
        let result = TokenSource::default().extract(&headers);
        let visible = value.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\t');
        if !visible {
            prop_assert_eq!(result, Err(AuthFailure::Malformed));
            return Ok(());
        }
        let text = std::str::from_utf8(&value).unwrap().trim_matches([' ', '\t']);
        let first_word = text.split(' ').next().unwrap_or_default();
        let rest = text.get(first_word.len()..).unwrap_or_default().trim_matches([' ', '\t']);
        if text.is_empty()
            || first_word.eq_ignore_ascii_case("bearer") && ["", "null", "undefined"].contains(&rest)
        {
            prop_assert!(
                matches!(result, Ok(None) | Ok(Some((_, TokenCarrier::Cookie)))),
                "{result:?}"
            );
        } else if first_word.eq_ignore_ascii_case("bearer") {
            prop_assert_eq!(result, Ok(Some((rest, TokenCarrier::Header))));
        } else {
            prop_assert_eq!(result, Err(AuthFailure::UnsupportedScheme));
        }
    }

    /// `Bearer <token>` in any letter case, with any spacing, yields exactly the token.
    #[test]
    fn bearer_in_any_case_yields_the_token(
        flips in prop::collection::vec(any::<bool>(), 6),
        before in "[ \t]{0,3}",
        between in " [ \t]{0,3}",
        after in "[ \t]{0,3}",
        token in "[A-Za-z0-9._~+/=-]{1,64}",
    ) {
        let value = format!("{before}{}{between}{token}{after}", random_case("bearer", &flips));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
        headers.insert("cookie", HeaderValue::from_static("__session=from-cookie"));
        prop_assert_eq!(
            TokenSource::default().extract(&headers),
            Ok(Some((token.as_str(), TokenCarrier::Header)))
        );
    }

    /// Without `Authorization` and without a publishable key: the first non-empty `__session`
    /// cookie across all `Cookie` headers, else anonymous; nothing when the first
    /// `__client_uat` is `0` (signed out). Pairs without `=` and headers that are not visible
    /// ASCII are skipped; no other cookie (a suffixed one included) is ever taken for the token.
    #[test]
    fn the_session_cookie_is_found_as_the_model_says(
        cookie_headers in prop::collection::vec(cookie_header(), 0..4),
    ) {
        let mut headers = HeaderMap::new();
        let mut usable = Vec::new();
        for (pairs, separator, poisoned) in &cookie_headers {
            let text: Vec<String> = pairs
                .iter()
                .map(|pair| match pair {
                    CookiePair::Pair(n, v) => format!("{n}={v}"),
                    CookiePair::Flag(n) => n.clone(),
                })
                .collect();
            let mut bytes = text.join(separator).into_bytes();
            if *poisoned {
                bytes.push(0xe9);
            } else {
                usable.extend(pairs.iter().filter_map(|pair| match pair {
                    CookiePair::Pair(n, v) => Some((n.clone(), v.clone())),
                    CookiePair::Flag(_) => None,
                }));
            }
            headers.append("cookie", HeaderValue::from_bytes(&bytes).unwrap());
        }
        let signed_out = usable
            .iter()
            .find(|(n, _)| n == "__client_uat")
            .is_some_and(|(_, v)| v == "0");
        let expected = usable
            .iter()
            .find(|(n, v)| n == "__session" && !v.is_empty())
            .filter(|_| !signed_out)
            .map(|(_, v)| (v.as_str(), TokenCarrier::Cookie));
        prop_assert_eq!(TokenSource::default().extract(&headers), Ok(expected));
    }
}

// ---------------------------------------------------------------------------------------------
// Claims normaliser: `fea` / `o.per` / `o.fpm` and the viewer
// ---------------------------------------------------------------------------------------------

/// Decimal digits of the number whose set bits are `bits`, by doubling in base 10^9 (independent
/// of the decoder, which multiplies by ten in base 2^32).
fn decimal_from_bits(bits: &BTreeSet<usize>) -> String {
    const BASE: u64 = 1_000_000_000;
    let top = bits.iter().next_back().map_or(0, |b| b + 1);
    // Little-endian limbs of nine decimal digits.
    let mut limbs = vec![0u64];
    for bit in (0..top).rev() {
        let mut carry = u64::from(bits.contains(&bit));
        for limb in &mut limbs {
            let value = *limb * 2 + carry;
            *limb = value % BASE;
            carry = value / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut text = limbs.last().unwrap().to_string();
    for limb in limbs.iter().rev().skip(1) {
        text.push_str(&format!("{limb:09}"));
    }
    text
}

#[test]
fn the_reference_decimal_conversion_agrees_with_u128() {
    for value in [
        0u128,
        1,
        2,
        3,
        1 << 53,
        (1 << 53) + 1,
        u64::MAX as u128 + 1,
        u128::MAX,
    ] {
        let bits = (0..128).filter(|b| value >> b & 1 == 1).collect();
        assert_eq!(decimal_from_bits(&bits), value.to_string());
    }
}

/// The permissions ARCHITECTURE §4 grants for these features (scope, name), `per` and masks.
fn expected_permissions(
    features: &[(String, String)],
    per: &[String],
    masks: &[BTreeSet<usize>],
) -> Vec<String> {
    let org_features = features.iter().filter(|(scope, _)| scope.contains('o'));
    let mut granted = Vec::new();
    for ((_, name), mask) in org_features.zip(masks) {
        for (bit, permission) in per.iter().enumerate() {
            if !permission.is_empty() && mask.contains(&bit) {
                granted.push(format!("org:{name}:{permission}"));
            }
        }
    }
    granted
}

fn malformed_mask() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "", "-1", "1.5", "0x10", "1e3", " ", "+1", "\u{661}", "1 1"
        ])
        .prop_map(str::to_string),
        "[0-9]{0,5}[^0-9,\\s][0-9]{0,5}",
        // Over 100 digits: past the bound, even when it is only leading zeros.
        "0{1,3}[0-9]{100}",
    ]
}

fn feature() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec!["o", "u", "ou", "uo"]),
        "[a-z][a-z0-9_]{0,10}",
    )
        .prop_map(|(scope, name)| (scope.to_string(), name))
}

proptest! {
    #![proptest_config(config(3000))]

    /// Arbitrary `fea`, `per` and `fpm` strings (and missing ones): no panic, and every grant is
    /// `org:<org-scoped feature>:<listed permission>`.
    #[test]
    fn arbitrary_claim_strings_never_grant_unlisted_permissions(
        fea in prop::option::of(prop_oneof![any::<String>(), "([ou]{1,2}:[a-z]{1,3},){0,4}"]),
        per in prop::option::of(prop_oneof![any::<String>(), "([a-z]{0,3},){0,6}"]),
        fpm in prop::option::of(prop_oneof![
            any::<String>(),
            "[0-9, ]{0,60}",
            "[0-9]{1,120}",
            any::<u128>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
        ]),
    ) {
        let granted = org_permissions::decode(fea.as_deref(), per.as_deref(), fpm.as_deref());
        if granted.is_empty() {
            return Ok(());
        }
        let (fea, per) = (fea.unwrap(), per.unwrap());
        let features = org_permissions::org_scoped_features(&fea).unwrap();
        let permissions: Vec<&str> = per.split(',').map(str::trim).collect();
        for grant in &granted {
            let listed = features.iter().any(|f| {
                permissions.iter().any(|p| !p.is_empty() && *grant == format!("org:{f}:{p}"))
            });
            prop_assert!(listed, "{grant} from fea={fea:?} per={per:?}");
        }
    }

    /// A mask with only bit j set grants exactly `per[j]` (nothing when j is past the list),
    /// for j up to 300, far beyond 2^53 and 2^64.
    #[test]
    fn a_single_bit_grants_exactly_that_permission(
        count in 1..120usize,
        bit in 0..300usize,
        leading_zeros in 0..3usize,
    ) {
        let per: Vec<String> = (0..count).map(|i| format!("p{i}")).collect();
        let mask = format!("{}{}", "0".repeat(leading_zeros), decimal_from_bits(&BTreeSet::from([bit])));
        let granted = org_permissions::decode(Some("o:f"), Some(&per.join(",")), Some(&mask));
        let expected: Vec<String> = per.get(bit).map(|p| format!("org:f:{p}")).into_iter().collect();
        prop_assert_eq!(granted, expected);
    }

    /// Random features (org- and user-scoped), permissions (some empty) and masks of up to 330
    /// bits decode exactly as the bit-level reference says; any malformed mask grants nothing.
    #[test]
    fn masks_decode_exactly_like_the_reference(
        features in prop::collection::vec(feature(), 0..6),
        per in prop::collection::vec(
            prop::collection::vec(b'a'..=b'z', 0..6)
                .prop_map(|name| String::from_utf8(name).unwrap()),
            0..80,
        ),
        masks in prop::collection::vec(prop::collection::btree_set(0..330usize, 0..12), 0..7),
        spaced in any::<bool>(),
        malformed in prop::option::of((any::<Index>(), malformed_mask())),
    ) {
        let separator = if spaced { " , " } else { "," };
        let fea = features.iter().map(|(s, n)| format!("{s}:{n}")).collect::<Vec<_>>().join(separator);
        let mut fpm: Vec<String> = masks.iter().map(decimal_from_bits).collect();
        let mut expected = expected_permissions(&features, &per, &masks);
        if let Some((at, bad)) = &malformed
            && !fpm.is_empty()
        {
            let slot = at.index(fpm.len());
            fpm[slot] = bad.to_string();
            expected.clear();
        }
        let granted = org_permissions::decode(
            Some(&fea),
            Some(&per.join(separator)),
            Some(&fpm.join(separator)),
        );
        prop_assert_eq!(granted, expected, "fea={} fpm={:?}", fea, fpm);
    }

    /// The same against plain u128 bit math, for masks that fit in 128 bits.
    #[test]
    fn masks_below_2_pow_128_decode_like_u128(mask in any::<u128>(), count in 1..130usize) {
        let per: Vec<String> = (0..count).map(|i| format!("p{i}")).collect();
        let granted = org_permissions::decode(Some("o:f"), Some(&per.join(",")), Some(&mask.to_string()));
        let expected: Vec<String> = (0..count.min(128))
            .filter(|&bit| mask >> bit & 1 == 1)
            .map(|bit| format!("org:f:p{bit}"))
            .collect();
        prop_assert_eq!(granted, expected);
    }

}

proptest! {
    #![proptest_config(config(1500))]

    /// Any claims map (v1, v2, garbage of any type in any claim) normalises without panicking,
    /// and the viewer keeps its invariants.
    #[test]
    fn arbitrary_claims_normalise_into_a_consistent_viewer(
        mut claims in json_object(),
        v2 in prop::option::of((
            prop::option::of(json_leaf()),
            prop::collection::vec((json_key(), json_value()), 0..6),
        )),
        path in "[a-z_.]{0,12}",
    ) {
        if let Some((fea, o)) = v2 {
            claims.insert("v".into(), json!(2));
            if let Some(fea) = fea {
                claims.insert("fea".into(), fea);
            }
            claims.insert("o".into(), Value::Object(o.into_iter().collect()));
        }
        let viewer = Viewer::from_verified_claims(USER.into(), NOW, &claims);
        check_viewer(&viewer, &claims)?;
        let _ = viewer.custom_claim(&path);
    }
}

fn check_viewer(viewer: &Viewer, claims: &Map<String, Value>) -> Result<(), TestCaseError> {
    for (key, value) in claims {
        if CLERK_CLAIMS.contains(&key.as_str()) {
            prop_assert!(!viewer.custom_claims.contains_key(key), "{key}");
        } else {
            prop_assert_eq!(viewer.custom_claims.get(key), Some(value));
            if !key.contains('.') {
                prop_assert_eq!(viewer.custom_claim(key), Some(value));
            }
        }
    }
    prop_assert_eq!(
        viewer.session_id.as_deref(),
        claims.get("sid").and_then(Value::as_str)
    );
    prop_assert_eq!(
        viewer.plan.as_deref(),
        claims.get("pla").and_then(Value::as_str)
    );
    prop_assert!(viewer.actor.as_ref().is_none_or(Value::is_object));
    let v2 = claims.get("v").and_then(Value::as_i64) == Some(2);
    let org_id = if v2 {
        claims
            .get("o")
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
    } else {
        claims.get("org_id").and_then(Value::as_str)
    };
    prop_assert_eq!(viewer.org.as_ref().map(|o| o.id.as_str()), org_id);
    if let Some(org) = &viewer.org {
        prop_assert!(org.role.as_ref().is_none_or(|r| r.starts_with("org:")));
        if v2 {
            let o = &claims["o"];
            let is_text = |v: Option<&Value>| v.is_some_and(Value::is_string);
            // Fail closed: permissions only when all three claims are strings.
            if !(is_text(claims.get("fea")) && is_text(o.get("per")) && is_text(o.get("fpm"))) {
                prop_assert!(org.permissions.is_empty());
            }
            for permission in &org.permissions {
                prop_assert!(
                    permission.starts_with("org:") && permission.matches(':').count() >= 2
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Svix signatures
// ---------------------------------------------------------------------------------------------

/// The signature value (`base64`, no `v1,`) Svix computes for a delivery.
fn svix_signature(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    STANDARD.encode(hmac::sign(&key, &message))
}

fn signing_keys(secrets: &[Vec<u8>]) -> SigningKeys {
    SigningKeys::new(
        &secrets
            .iter()
            .map(|s| Secret::new(format!("whsec_{}", STANDARD.encode(s))))
            .collect::<Vec<_>>(),
    )
}

/// A filler entry of `svix-signature`: other versions, junk, wrong `v1` values.
fn filler_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 32).prop_map(|b| format!("v1,{}", STANDARD.encode(b))),
        prop::collection::vec(any::<u8>(), 0..48)
            .prop_map(|b| format!("v1,{}", STANDARD.encode(b))),
        prop::collection::vec(any::<u8>(), 32).prop_map(|b| format!("v2,{}", STANDARD.encode(b))),
        "v1,[!-~]{0,50}",
        "[!-~]{1,20}",
        Just("v1,".to_string()),
    ]
}

fn whitespace() -> impl Strategy<Value = String> {
    prop_oneof![8 => Just(" ".to_string()), 1 => "[ \t\n]{1,3}"]
}

#[derive(Debug, Clone)]
struct Delivery {
    secrets: Vec<Vec<u8>>,
    signer: Index,
    id: String,
    offset: i64,
    body: Vec<u8>,
    fillers: Vec<(String, String)>,
    position: Index,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..4),
        any::<Index>(),
        "msg_[A-Za-z0-9]{0,27}",
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec((filler_entry(), whitespace()), 0..6),
        any::<Index>(),
    )
        .prop_map(
            |(secrets, signer, id, offset, body, fillers, position)| Delivery {
                secrets,
                signer,
                id,
                offset,
                body,
                fillers,
                position,
            },
        )
}

impl Delivery {
    fn timestamp(&self) -> String {
        (NOW + self.offset).to_string()
    }

    fn signature(&self) -> String {
        let secret = &self.secrets[self.signer.index(self.secrets.len())];
        svix_signature(secret, &self.id, &self.timestamp(), &self.body)
    }

    /// `svix-signature` with `v1,<signature>` among the fillers.
    fn header(&self, signature: &str) -> String {
        self.header_with_entry(&format!("v1,{signature}"))
    }

    /// `svix-signature` with `entry` among the fillers.
    fn header_with_entry(&self, entry: &str) -> String {
        let mut entries: Vec<(String, String)> = self.fillers.clone();
        let at = self.position.index(entries.len() + 1);
        entries.insert(at, (entry.to_string(), " ".to_string()));
        entries
            .iter()
            .map(|(entry, space)| format!("{entry}{space}"))
            .collect()
    }

    fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = SignedHeaders {
            id,
            timestamp,
            signatures,
        };
        signing_keys(&self.secrets).verify(headers, body, NOW)
    }
}

fn flip_ascii(text: &str, at: Index, bit: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = at.index(bytes.len());
    bytes[i] ^= 1 << (bit % 7);
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any headers and body: no panic; a timestamp that is not an integer is malformed; one more
    /// than 5 minutes away is refused before any HMAC; anything else fails to match (a random
    /// header carrying a right signature is out of reach).
    #[test]
    fn arbitrary_svix_headers_give_a_defined_answer(
        id in prop_oneof![any::<String>(), "msg_[A-Za-z0-9]{0,27}"],
        timestamp in prop_oneof![
            any::<String>(),
            (-1000i64..1000).prop_map(|d| (NOW + d).to_string()),
            any::<i64>().prop_map(|t| t.to_string()),
            "[ +-]?[0-9]{0,22}",
        ],
        signatures in prop_oneof![any::<String>(), prop::collection::vec(filler_entry(), 0..5).prop_map(|e| e.join(" "))],
        body in prop::collection::vec(any::<u8>(), 0..300),
        secrets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..3),
    ) {
        let keys = signing_keys(&secrets);
        let result = keys.verify(SignedHeaders { id: &id, timestamp: &timestamp, signatures: &signatures }, &body, NOW);
        let expected = match timestamp.parse::<i64>() {
            Err(_) => Err(SignatureError::MalformedTimestamp),
            Ok(t) if (NOW as i128 - t as i128) > TOLERANCE_SECS as i128 => Err(SignatureError::TooOld),
            Ok(t) if (t as i128 - NOW as i128) > TOLERANCE_SECS as i128 => Err(SignatureError::TooNew),
            Ok(_) => Err(SignatureError::NoMatch),
        };
        prop_assert_eq!(result, expected);
    }

    /// The right signature, under any of the configured secrets, placed anywhere among random
    /// entries (other versions, junk, wrong `v1` values; any whitespace) verifies.
    #[test]
    fn a_right_signature_anywhere_among_the_entries_verifies(d in delivery()) {
        let header = d.header(&d.signature());
        prop_assert_eq!(d.verify(&d.id, &d.timestamp(), &header, &d.body), Ok(()), "{}", header);
    }

    /// Any single-bit change in the id, the timestamp, the body or the signature fails.
    #[test]
    fn any_single_bit_change_fails(
        d in delivery(),
        target in 0..5u8,
        at in any::<Index>(),
        bit in 0..8u8,
    ) {
        let (id, timestamp, signature, mut body) = (d.id.clone(), d.timestamp(), d.signature(), d.body.clone());
        let result = match target {
            0 => d.verify(&flip_ascii(&id, at, bit), &timestamp, &d.header(&signature), &body),
            1 => d.verify(&id, &flip_ascii(&timestamp, at, bit), &d.header(&signature), &body),
            2 if !body.is_empty() => {
                let i = at.index(body.len());
                body[i] ^= 1 << bit;
                d.verify(&id, &timestamp, &d.header(&signature), &body)
            }
            2 => {
                body.push(1 << bit);
                d.verify(&id, &timestamp, &d.header(&signature), &body)
            }
            3 => {
                // A bit of the MAC itself.
                let mut mac = STANDARD.decode(&signature).unwrap();
                let i = at.index(mac.len());
                mac[i] ^= 1 << bit;
                d.verify(&id, &timestamp, &d.header(&STANDARD.encode(mac)), &body)
            }
            _ => {
                // A bit of the header text (the `v1,` prefix or the base64).
                let entry = format!("v1,{signature}");
                let flipped = flip_ascii(&entry, at, bit);
                prop_assume!(flipped != entry);
                let header = d.header_with_entry(&flipped);
                // A flip inside base64 padding can decode to the same MAC; only then may it pass.
                let same_mac = flipped
                    .strip_prefix("v1,")
                    .and_then(|s| STANDARD.decode(s).ok())
                    .is_some_and(|mac| mac == STANDARD.decode(&signature).unwrap());
                let result = d.verify(&id, &timestamp, &header, &body);
                if same_mac {
                    prop_assert_eq!(result, Ok(()));
                    return Ok(());
                }
                result
            }
        };
        prop_assert!(result.is_err(), "target {target}: {result:?}");
        // A signature under a secret that is not configured fails too. (Not the signer's secret
        // with a zero byte appended: HMAC pads keys with zeros, so that is the same key.)
        let other = b"a secret that is not configured".to_vec();
        prop_assume!(!d.secrets.contains(&other));
        let foreign = svix_signature(&other, &id, &d.timestamp(), &d.body);
        prop_assert_eq!(
            d.verify(&id, &d.timestamp(), &d.header(&foreign), &d.body),
            Err(SignatureError::NoMatch)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook payloads
// ---------------------------------------------------------------------------------------------

/// The fixed messages of `PayloadError` (never quoting the payload).
const PAYLOAD_ERRORS: &[&str] = &[
    "not a Clerk event envelope (JSON with `type` and `data`)",
    "`data` is not a Clerk user",
    "`data` has no user id",
    "`data` has no session id",
    "`data.id` is not a Clerk user id",
];

fn parse_payload(body: &[u8]) -> Result<(String, ClerkEvent), TestCaseError> {
    match event::parse(body) {
        Ok(parsed) => {
            // Only a UTF-8 JSON object is an envelope. (JSON puts no bound on numbers, so
            // `IgnoredAny`, not `Value`, which refuses some as out of range.)
            let text = std::str::from_utf8(body);
            prop_assert!(
                text.is_ok_and(|t| t.trim_start().starts_with('{')),
                "{body:?}"
            );
            prop_assert!(serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok());
            Ok(parsed)
        }
        Err(error) => {
            let message = error.to_string();
            prop_assert!(PAYLOAD_ERRORS.contains(&message.as_str()), "{message}");
            Err(TestCaseError::reject("refused"))
        }
    }
}

const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "session.ended",
    "session.revoked",
    "session.removed",
    "session.created",
    "organization.created",
    "email.created",
];

fn plausible_user_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "user_[A-Za-z0-9]{1,27}",
        1 => "[A-Za-z0-9][A-Za-z0-9_-]{0,127}",
    ]
}

proptest! {
    #![proptest_config(config(2000))]

    /// Arbitrary bytes, arbitrary JSON and envelopes of every type with arbitrary `data`: no
    /// panic, and a refusal is one of the fixed messages.
    #[test]
    fn arbitrary_payloads_are_parsed_or_refused_in_fixed_words(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        value in json_value(),
        event_type in prop_oneof![prop::sample::select(EVENT_TYPES.to_vec()).prop_map(str::to_string), interesting_string()],
        data in json_value(),
    ) {
        for body in [bytes, value.to_string().into_bytes()] {
            match parse_payload(&body) {
                Ok(_) | Err(TestCaseError::Reject(_)) => {}
                Err(failure) => return Err(failure),
            }
        }
        let envelope = json!({"type": event_type, "data": data, "object": "event"});
        match parse_payload(envelope.to_string().as_bytes()) {
            Ok((kind, event)) => {
                prop_assert_eq!(&kind, &event_type);
                if !EVENT_TYPES[..6].contains(&event_type.as_str()) {
                    prop_assert_eq!(event, ClerkEvent::Ignored);
                }
            }
            Err(TestCaseError::Reject(_)) => {
                prop_assert!(EVENT_TYPES[..6].contains(&event_type.as_str()), "{event_type}");
            }
            Err(failure) => return Err(failure),
        }
    }

    /// A lone continuation byte anywhere in a valid envelope makes it not UTF-8, hence not
    /// JSON: refused, wherever it lands (also in fields the parser ignores).
    #[test]
    fn invalid_utf8_anywhere_is_refused(
        kind in prop::sample::select(EVENT_TYPES.to_vec()),
        at in any::<Index>(),
        byte in 0x80u8..0xc0,
    ) {
        let envelope = json!({
            "type": kind, "data": clerk_user_json("user_1", None), "object": "event",
            "instance_id": "ins_1", "timestamp": 1,
        });
        let mut body = envelope.to_string().into_bytes();
        prop_assert!(event::parse(&body).is_ok());
        body.insert(at.index(body.len() + 1), byte);
        prop_assert!(event::parse(&body).is_err());
    }

    /// User and session events round-trip their ids (and the user's profile); implausible user
    /// ids are refused.
    #[test]
    fn user_events_round_trip_ids(
        id in plausible_user_id(),
        bad_id in prop_oneof![
            Just(String::new()),
            "_[a-z]{1,8}",
            "user [a-z]{1,8}",
            "user_[a-z]{1,4}[/.@é]",
            "u[a-z0-9]{128,140}",
        ],
        kind in prop::sample::select(vec!["user.created", "user.updated", "user.deleted", "session.ended", "session.revoked", "session.removed"]),
        nulls in prop::collection::vec(prop::sample::select(vec![
            "username", "first_name", "last_name", "image_url", "public_metadata",
            "email_addresses", "primary_email_address_id", "last_sign_in_at", "created_at", "updated_at",
        ]), 0..4),
        extra in json_object(),
    ) {
        let mut user = clerk_user_json(&id, Some("admin"));
        for field in &nulls {
            user[*field] = Value::Null;
        }
        for (key, value) in extra {
            if user.get(&key).is_none() {
                user[key] = value;
            }
        }
        let data = match kind {
            "user.deleted" => json!({"id": id, "deleted": true, "object": "user"}),
            kind if kind.starts_with("session.") => json!({"id": id, "user_id": "user_1", "status": "ended"}),
            _ => user.clone(),
        };
        let envelope = json!({"type": kind, "data": data, "object": "event", "instance_id": "ins_1", "timestamp": 1});
        let (parsed_kind, event) = event::parse(envelope.to_string().as_bytes()).unwrap();
        prop_assert_eq!(parsed_kind.as_str(), kind);
        match event {
            ClerkEvent::UserUpserted(parsed) => {
                prop_assert!(kind != "user.deleted" && !kind.starts_with("session."));
                prop_assert_eq!(&parsed.id, &id);
                prop_assert_eq!(parsed.first_name.as_deref(), user["first_name"].as_str());
                prop_assert_eq!(parsed.updated_at, user["updated_at"].as_i64().unwrap_or(0));
                let emails: Vec<&str> = parsed.email_addresses.iter().map(|e| e.email_address.as_str()).collect();
                let expected: Vec<&str> = user["email_addresses"]
                    .as_array()
                    .map(|list| list.iter().filter_map(|e| e["email_address"].as_str()).collect())
                    .unwrap_or_default();
                prop_assert_eq!(emails, expected);
            }
            ClerkEvent::UserDeleted { user_id } => {
                prop_assert_eq!(kind, "user.deleted");
                prop_assert_eq!(user_id, id.clone());
            }
            ClerkEvent::SessionEnded { session_id } => {
                prop_assert!(kind.starts_with("session."));
                prop_assert_eq!(session_id, id.clone());
            }
            ClerkEvent::Ignored => prop_assert!(false, "{kind} ignored"),
        }
        if kind.starts_with("user.") {
            let mut data = data;
            data["id"] = json!(bad_id);
            let envelope = json!({"type": kind, "data": data});
            prop_assert!(event::parse(envelope.to_string().as_bytes()).is_err(), "{bad_id:?}");
        }
    }
}

/// The envelope and its `data` are JSON objects: serde's derived structs would also accept a
/// JSON array holding the fields in order, a form Clerk never sends.
#[test]
fn envelopes_and_data_that_are_arrays_are_refused() {
    for body in [
        r#"["user.deleted", {"id": "user_1", "deleted": true}]"#,
        r#"["user.created", {"id": "user_1"}]"#,
        r#"{"type": "user.deleted", "data": ["user_1"]}"#,
        r#"{"type": "user.created", "data": ["user_1"]}"#,
        r#"{"type": "session.ended", "data": ["sess_1"]}"#,
    ] {
        assert!(event::parse(body.as_bytes()).is_err(), "{body}");
    }
}

/// Found by `scripts/fuzz` (target `webhook_payload`): serde_json skips the fields a struct
/// ignores without checking their bytes, so invalid UTF-8 in `instance_id` was accepted.
#[test]
fn payloads_that_are_not_utf8_are_refused() {
    let mut body = br#"{"data": {"id": "user_2abc", "object": "user", "first_name": "Ada"}, "object": "event", "type": "user.created", "timestamp": 1716883260000, "instance_id": "in"#.to_vec();
    body.extend_from_slice(b"\x8d_1\"}");
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "not JSON");
    assert!(event::parse(&body).is_err());
    // The same payload in UTF-8 is accepted.
    let at = body.len() - 5;
    body[at] = b'x';
    assert!(event::parse(&body).is_ok());
}
