//! The session-token front-end: extraction from the `Authorization` header or the `__session`
//! cookie, then the parser and the verifier (ARCHITECTURE §4), with fixed keys and a fixed clock.
//!
//! Input: the first byte picks a mode.
//! - `b'#'`: the rest is a claims payload (any bytes), signed here with a key generated at start
//!   up, so that the claim checks and the viewer normaliser run on arbitrary signed payloads.
//! - anything else: the whole input is a token presented as `Authorization: Bearer …`, as a
//!   `__session` cookie and directly, to a verifier holding the public key of Clerk's SDK
//!   fixtures (`tests/fixtures/clerk-fixtures.json`) at the instant they were valid. Only the
//!   fixture's valid token may pass.
#![no_main]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clerk_graphql::auth::clock::FixedClock;
use clerk_graphql::auth::jwks::VerificationKey;
use clerk_graphql::auth::keys::KeySource;
use clerk_graphql::auth::token::TokenSource;
use clerk_graphql::auth::verifier::ClaimRules;
use clerk_graphql::auth::{AuthFailure, Verified, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    /// Keyed with the fixtures' public key, at their instant.
    clerk: Verifier,
    valid_token: String,
    /// Keyed with `signing`'s public half.
    own: Verifier,
    signing: EncodingKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/clerk-fixtures.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let vectors: Value = serde_json::from_str(&text).unwrap();
        let rules = |issuer: &str, party: &str| ClaimRules {
            issuer: Some(issuer.into()),
            authorized_parties: vec![party.into()],
            ..ClaimRules::default()
        };
        let pem = vectors["public_key_pem"].as_str().unwrap();
        let clerk = Verifier::new(
            KeySource::Pem(Arc::new(VerificationKey {
                key: DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
                algorithm: None,
            })),
            rules(
                vectors["issuer"].as_str().unwrap(),
                vectors["authorized_party"].as_str().unwrap(),
            ),
            FixedClock::at_unix_seconds(vectors["now_unix"].as_i64().unwrap()),
        );

        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&pair).unwrap();
        let body = STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let signing = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let public = pair.public_key();
        let own = Verifier::new(
            KeySource::Pem(Arc::new(VerificationKey {
                key: DecodingKey::from_rsa_raw_components(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                ),
                algorithm: Some(Algorithm::RS256),
            })),
            rules("https://fuzz.clerk.test", "http://localhost:3000"),
            FixedClock::at_unix_seconds(1_700_000_000),
        );
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            clerk,
            valid_token: vectors["valid"]["token"].as_str().unwrap().to_string(),
            own,
            signing,
        }
    })
}

fn check_reason(result: &Result<Verified, AuthFailure>) {
    if let Err(failure) = result {
        assert!(AuthFailure::ALL.contains(failure), "{failure:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Some(claims) = data.strip_prefix(b"#") {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"fuzz"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &f.signing, Algorithm::RS256).unwrap();
        let token = format!("{input}.{signature}");
        let result = f.runtime.block_on(f.own.verify(&token));
        check_reason(&result);
        if result.is_ok() {
            // Only a JSON object with a subject can get this far.
            let claims: serde_json::Map<String, Value> = serde_json::from_slice(claims).unwrap();
            assert!(claims.get("sub").and_then(Value::as_str).is_some());
        }
        return;
    }

    let text = String::from_utf8_lossy(data);
    let direct = f.runtime.block_on(f.clerk.verify(&text));
    check_reason(&direct);
    if direct.is_ok() {
        assert_eq!(
            text, f.valid_token,
            "only the fixture's signed token may pass"
        );
    }

    // The same bytes as a header and as a cookie (when a header may carry them).
    for (name, prefix) in [
        ("authorization", &b"Bearer "[..]),
        ("cookie", b"__session="),
    ] {
        let mut value = prefix.to_vec();
        value.extend_from_slice(data);
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            continue;
        };
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        match TokenSource::default().extract(&headers) {
            Ok(Some((token, _))) => {
                let result = f.runtime.block_on(f.clerk.verify(token));
                check_reason(&result);
                if result.is_ok() {
                    assert_eq!(token, f.valid_token);
                }
            }
            // No token: a cookie without a value, or what signed-out frontends send.
            Ok(None) => {}
            Err(failure) => assert!(AuthFailure::ALL.contains(&failure)),
        }
    }
});
