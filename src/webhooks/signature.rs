//! The Svix signature scheme Clerk signs webhooks with (ARCHITECTURE §8): HMAC-SHA256, keyed with
//! the base64 part of `whsec_…`, over `{svix-id}.{svix-timestamp}.{raw body}`. The
//! `svix-signature` header holds space-separated `v1,<base64>` entries (several during a secret
//! rotation on Svix's side); any one may match. Several of our own secrets may be configured
//! during a rotation on ours.
//!
//! The body must be the raw bytes as received: re-serialising parsed JSON changes them.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::Secret;

/// How far the signed timestamp may be from our clock, either way: Svix's own tolerance. It
/// bounds how long a captured delivery can be replayed (and dedupe on `svix-id` covers the rest).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// The headers a delivery is signed with.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signatures: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the svix-timestamp header is not a Unix time in seconds")]
    MalformedTimestamp,
    #[error("the svix-timestamp is more than 5 minutes old")]
    TooOld,
    #[error("the svix-timestamp is more than 5 minutes in the future")]
    TooNew,
    #[error("no signature in svix-signature matches")]
    NoMatch,
}

/// The webhook signing keys, decoded once at start-up.
pub struct SigningKeys(Vec<hmac::Key>);

impl SigningKeys {
    /// From `whsec_…` secrets. The configuration has already checked their form; a secret that
    /// does not decode is skipped rather than trusted.
    pub fn new(secrets: &[Secret]) -> Self {
        Self(
            secrets
                .iter()
                .filter_map(|secret| {
                    let encoded = secret.expose().strip_prefix("whsec_")?;
                    let key = STANDARD.decode(encoded).ok()?;
                    Some(hmac::Key::new(hmac::HMAC_SHA256, &key))
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the timestamp against `now_unix_secs`, then every signature against every key.
    pub fn verify(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), SignatureError> {
        let timestamp: i64 = headers
            .timestamp
            .parse()
            .map_err(|_| SignatureError::MalformedTimestamp)?;
        if now_unix_secs.saturating_sub(timestamp) > TOLERANCE_SECS {
            return Err(SignatureError::TooOld);
        }
        if timestamp.saturating_sub(now_unix_secs) > TOLERANCE_SECS {
            return Err(SignatureError::TooNew);
        }
        let candidates: Vec<Vec<u8>> = headers
            .signatures
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|signature| STANDARD.decode(signature).ok())
            .collect();
        for key in &self.0 {
            let mut context = hmac::Context::with_key(key);
            // The timestamp exactly as sent: the signature covers the header's bytes.
            for part in [
                headers.id.as_bytes(),
                b".",
                headers.timestamp.as_bytes(),
                b".",
                body,
            ] {
                context.update(part);
            }
            let expected = context.sign();
            // Constant-time, so that timing does not reveal how much of a forgery was right.
            if candidates.iter().any(|candidate| {
                constant_time::verify_slices_are_equal(expected.as_ref(), candidate).is_ok()
            }) {
                return Ok(());
            }
        }
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official Svix test vector (also in tests/fixtures/clerk-fixtures.json).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: &str = "1614265330";
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn keys(secrets: &[&str]) -> SigningKeys {
        SigningKeys::new(&secrets.iter().map(|s| Secret::new(*s)).collect::<Vec<_>>())
    }

    fn verify(
        keys: &SigningKeys,
        id: &str,
        ts: &str,
        sigs: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = SignedHeaders {
            id,
            timestamp: ts,
            signatures: sigs,
        };
        keys.verify(headers, body, 1_614_265_330)
    }

    #[test]
    fn the_official_vector_verifies() {
        let keys = keys(&[SECRET]);
        assert_eq!(
            verify(&keys, ID, TIMESTAMP, SIGNATURE, BODY.as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn a_one_bit_change_anywhere_fails() {
        let keys = keys(&[SECRET]);
        let flip = |text: &str, index: usize| {
            let mut bytes = text.as_bytes().to_vec();
            bytes[index] ^= 1;
            String::from_utf8(bytes).unwrap()
        };
        for i in 0..BODY.len() {
            let body = flip(BODY, i);
            assert_eq!(
                verify(&keys, ID, TIMESTAMP, SIGNATURE, body.as_bytes()),
                Err(SignatureError::NoMatch),
                "body byte {i}"
            );
        }
        for i in 0..ID.len() {
            assert_eq!(
                verify(&keys, &flip(ID, i), TIMESTAMP, SIGNATURE, BODY.as_bytes()),
                Err(SignatureError::NoMatch),
                "id byte {i}"
            );
        }
        // The last digit: a one-second change, still within the tolerance.
        let timestamp = flip(TIMESTAMP, TIMESTAMP.len() - 1);
        assert_eq!(
            verify(&keys, ID, &timestamp, SIGNATURE, BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
        let signature = STANDARD.decode(&SIGNATURE[3..]).unwrap();
        for bit in 0..signature.len() * 8 {
            let mut forged = signature.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let header = format!("v1,{}", STANDARD.encode(&forged));
            assert_eq!(
                verify(&keys, ID, TIMESTAMP, &header, BODY.as_bytes()),
                Err(SignatureError::NoMatch),
                "signature bit {bit}"
            );
        }
        let mut secret_bytes = STANDARD.decode(&SECRET[6..]).unwrap();
        secret_bytes[0] ^= 1;
        let other = keys_from_bytes(&secret_bytes);
        assert_eq!(
            verify(&other, ID, TIMESTAMP, SIGNATURE, BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
    }

    fn keys_from_bytes(bytes: &[u8]) -> SigningKeys {
        keys(&[&format!("whsec_{}", STANDARD.encode(bytes))])
    }

    #[test]
    fn any_matching_entry_and_any_configured_secret_is_enough() {
        let rotated = keys(&["whsec_c2VjcmV0LW9uZQ==", SECRET]);
        let header = format!(
            "v1,Zm9yZ2Vk v2,{} junk v1,!!! {SIGNATURE} v1,bm9wZQ==",
            &SIGNATURE[3..]
        );
        assert_eq!(
            verify(&rotated, ID, TIMESTAMP, &header, BODY.as_bytes()),
            Ok(())
        );
        // A valid signature under a version other than v1 is not accepted.
        let v2_only = format!("v2,{}", &SIGNATURE[3..]);
        assert_eq!(
            verify(&rotated, ID, TIMESTAMP, &v2_only, BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&rotated, ID, TIMESTAMP, "", BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused_before_any_hmac() {
        let keys = keys(&[SECRET]);
        let headers = |timestamp| SignedHeaders {
            id: ID,
            timestamp,
            signatures: SIGNATURE,
        };
        let signed = 1_614_265_330;
        assert_eq!(
            keys.verify(headers(TIMESTAMP), BODY.as_bytes(), signed + 300),
            Ok(())
        );
        assert_eq!(
            keys.verify(headers(TIMESTAMP), BODY.as_bytes(), signed - 300),
            Ok(())
        );
        assert_eq!(
            keys.verify(headers(TIMESTAMP), BODY.as_bytes(), signed + 301),
            Err(SignatureError::TooOld)
        );
        assert_eq!(
            keys.verify(headers(TIMESTAMP), BODY.as_bytes(), signed - 301),
            Err(SignatureError::TooNew)
        );
        for malformed in [
            "",
            "abc",
            " 1614265330",
            "1614265330.5",
            "99999999999999999999",
        ] {
            assert_eq!(
                keys.verify(headers(malformed), BODY.as_bytes(), signed),
                Err(SignatureError::MalformedTimestamp),
                "{malformed}"
            );
        }
    }
}
