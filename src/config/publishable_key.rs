//! Clerk's publishable key: `pk_test_` / `pk_live_` + base64(`<frontend-api-host>$`), which names
//! the instance's Frontend API host (and so the issuer of its tokens).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// The Frontend API host in `key`, padded base64 or not (Clerk's own parser accepts both).
/// Whatever is wrong, the fix is the same, so every error says where to find the key: a
/// truncated or mistyped copy is the usual cause.
pub fn frontend_api_from_publishable_key(key: &str) -> Result<String, String> {
    decode(key).map_err(|why| format!("{why}: copy it again from the Clerk dashboard (API keys)"))
}

fn decode(key: &str) -> Result<String, &'static str> {
    let encoded = key
        .strip_prefix("pk_test_")
        .or_else(|| key.strip_prefix("pk_live_"))
        .ok_or("expected a key starting with `pk_test_` or `pk_live_`")?;
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| "the part after `pk_test_`/`pk_live_` is not base64")?;
    let text = String::from_utf8(decoded).map_err(|_| "does not decode to text")?;
    let host = text
        .strip_suffix('$')
        .filter(|host| !host.contains('$') && host.contains('.'))
        .ok_or("does not decode to `<frontend-api-host>$`")?;
    if host.contains(['/', ' ', ':']) {
        return Err("decodes to something that is not a host name");
    }
    Ok(host.to_string())
}
