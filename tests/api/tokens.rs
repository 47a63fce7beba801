//! Test-only RSA keys, generated at run time, and token minting with any header or claims.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://test-instance.clerk.accounts.dev";

pub struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
    /// SPKI PEM of the public key, as `CLERK_JWT_KEY` takes it.
    pub public_pem: String,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("PKCS#8");
        let private_pem = pem("PRIVATE KEY", pkcs8.as_ref());
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("encoding key");
        let public = pair.public_key();
        let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(public).expect("SPKI");
        let jwk = json!({
            "use": "sig",
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        Self {
            kid: kid.to_string(),
            encoding,
            jwk,
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
        }
    }

    /// The key the fake Clerk serves by default.
    pub fn primary() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| TestKey::generate("ins_test_primary"))
    }

    /// A second key: rotations, and "another key with the same kid".
    pub fn secondary() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| TestKey::generate("ins_test_secondary"))
    }

    /// A session token with the standard header (`RS256`, this key's kid, `typ: JWT`).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// Any header, signed with RS256 over exactly the bytes given.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_input(signing_input(header, claims))
    }

    /// Header and payload as JSON text, used as written: what a `Value` cannot hold, such as a
    /// member twice.
    pub fn sign_text(&self, header: &str, payload: &str) -> String {
        self.sign_input(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        ))
    }

    fn sign_input(&self, input: String) -> String {
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256)
                .expect("signing");
        format!("{input}.{signature}")
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a valid v1 session token issued now by [`ISSUER`].
pub fn session_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "sid": "sess_test_1",
        "iss": ISSUER,
        "azp": "http://localhost:3000",
        "iat": now,
        "nbf": now - 10,
        "exp": now + 60,
    })
}

/// `claims` with the fields of `changes` replaced; a `null` value removes the claim.
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().expect("object") {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}
