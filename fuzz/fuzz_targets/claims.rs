//! The claims normaliser: a verified claims object (any JSON) becomes a `Viewer` (v1 and v2
//! organisation claims, `fea` / `o.per` / `o.fpm`, actor, plan, custom claims); and the
//! permission decoder on its own, against a u128 reference for masks that fit in 128 bits.
//!
//! Input: JSON claims; or, when it starts with `|`, `fea|per|fpm` for the decoder directly.
#![no_main]

use clerk_graphql::auth::Viewer;
use clerk_graphql::auth::viewer::CLERK_CLAIMS;
use clerk_graphql::auth::org_permissions::{decode, org_scoped_features};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// What ARCHITECTURE §4 grants, by plain u128 bit math; `None` when a mask does not fit (or the
/// claim is malformed in a way this reference does not model).
fn reference(fea: &str, per: &str, fpm: &str) -> Option<Vec<String>> {
    let features = org_scoped_features(fea)?;
    let permissions: Vec<&str> = per.split(',').map(str::trim).collect();
    let mut masks = Vec::new();
    for mask in fpm.split(',').map(str::trim) {
        if mask.is_empty() || mask.len() > 100 || !mask.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Vec::new());
        }
        masks.push(mask.parse::<u128>().ok()?);
    }
    let mut granted = Vec::new();
    for (feature, mask) in features.iter().zip(&masks) {
        for (bit, permission) in permissions.iter().enumerate() {
            if !permission.is_empty() && bit < 128 && mask >> bit & 1 == 1 {
                granted.push(format!("org:{feature}:{permission}"));
            }
        }
    }
    Some(granted)
}

fn check_decode(fea: &str, per: &str, fpm: &str) {
    let granted = decode(Some(fea), Some(per), Some(fpm));
    if let Some(expected) = reference(fea, per, fpm) {
        assert_eq!(granted, expected, "fea={fea:?} per={per:?} fpm={fpm:?}");
    }
    for grant in &granted {
        assert!(grant.starts_with("org:"), "{grant}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(b"|") {
        let text = String::from_utf8_lossy(rest);
        let mut parts = text.splitn(3, '|');
        let (fea, per, fpm) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        check_decode(fea, per, fpm);
        return;
    }

    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let viewer = Viewer::from_verified_claims("user_fuzz".into(), 0, &claims);
    for (key, value) in &claims {
        if CLERK_CLAIMS.contains(&key.as_str()) {
            assert!(!viewer.custom_claims.contains_key(key));
        } else {
            assert_eq!(viewer.custom_claims.get(key), Some(value));
        }
        let _ = viewer.custom_claim(key);
    }
    if let Some(org) = &viewer.org {
        assert!(org.role.as_ref().is_none_or(|r| r.starts_with("org:")));
        let o = claims.get("o");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        if let (Some(fea), Some(per), Some(fpm)) = (
            text(claims.get("fea")),
            text(o.and_then(|o| o.get("per"))),
            text(o.and_then(|o| o.get("fpm"))),
        ) && claims.get("v").and_then(Value::as_i64) == Some(2)
        {
            assert_eq!(org.permissions, decode(Some(&fea), Some(&per), Some(&fpm)));
            check_decode(&fea, &per, &fpm);
        }
    }
});
