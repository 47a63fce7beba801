//! The Svix signature check (ARCHITECTURE §8) against a reference written here: a delivery verifies
//! exactly when its timestamp is an integer within 5 minutes and one whitespace-separated
//! `v1,<base64>` entry decodes to the HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret
//! of Svix's official test vector.
//!
//! Input: `id \n timestamp \n signatures \n body`. When the signatures line starts with `!`,
//! the right signature is inserted among its entries (at a position picked by the next byte).
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clerk_graphql::config::Secret;
use clerk_graphql::webhooks::SigningKeys;
use clerk_graphql::webhooks::signature::{SignatureError, SignedHeaders, TOLERANCE_SECS};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The vector's timestamp: the fuzzer's clock.
const NOW: i64 = 1_614_265_330;

fn keys() -> &'static SigningKeys {
    static KEYS: OnceLock<SigningKeys> = OnceLock::new();
    KEYS.get_or_init(|| SigningKeys::new(&[Secret::new(SECRET)]))
}

fn mac(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let secret = STANDARD.decode(&SECRET["whsec_".len()..]).unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    hmac::sign(&key, &message).as_ref().to_vec()
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let (Some(id), Some(timestamp), Some(signatures)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let (Ok(id), Ok(timestamp), Ok(signatures)) = (
        std::str::from_utf8(id),
        std::str::from_utf8(timestamp),
        std::str::from_utf8(signatures),
    ) else {
        return;
    };
    let expected_mac = mac(id, timestamp, body);

    let mut signatures = signatures.to_string();
    if let Some(rest) = signatures.strip_prefix('!') {
        let mut entries: Vec<String> = rest.split(' ').map(str::to_string).collect();
        let at = rest.bytes().next().map_or(0, usize::from) % (entries.len() + 1);
        entries.insert(at, format!("v1,{}", STANDARD.encode(&expected_mac)));
        signatures = entries.join(" ");
    }

    let result = keys().verify(
        SignedHeaders {
            id,
            timestamp,
            signatures: &signatures,
        },
        body,
        NOW,
    );

    let expected = match timestamp.parse::<i64>() {
        Err(_) => Err(SignatureError::MalformedTimestamp),
        Ok(t) if i128::from(NOW) - i128::from(t) > i128::from(TOLERANCE_SECS) => {
            Err(SignatureError::TooOld)
        }
        Ok(t) if i128::from(t) - i128::from(NOW) > i128::from(TOLERANCE_SECS) => {
            Err(SignatureError::TooNew)
        }
        Ok(_) => {
            let matches = signatures.split_whitespace().any(|entry| {
                entry
                    .strip_prefix("v1,")
                    .and_then(|s| STANDARD.decode(s).ok())
                    .is_some_and(|candidate| candidate == expected_mac)
            });
            if matches {
                Ok(())
            } else {
                Err(SignatureError::NoMatch)
            }
        }
    };
    assert_eq!(result, expected, "signatures {signatures:?}");
});
