//! Decoding the organisation permissions of a v2 session token (`fea`, `o.per`, `o.fpm`).
//!
//! The i-th integer of `fpm` belongs to the i-th *org-scoped* feature of `fea` (as Clerk's JS SDK
//! aligns them); bit j of it grants `per[j]` for that feature, giving `org:<feature>:<permission>`.
//! Masks are decimal strings that may exceed 2^53 (and even 2^64), so they are decoded exactly with
//! a small big-integer conversion instead of through a float. Anything malformed grants nothing:
//! permissions fail closed.

/// Masks longer than this many digits (over 300 bits) are treated as malformed; a session token
/// cannot carry that many permissions anyway.
const MAX_MASK_DIGITS: usize = 100;

/// Splits `fea` into (org-scoped features, all feature entries). `None` when an element has no
/// scope (Clerk's parser throws on it).
pub fn org_scoped_features(fea: &str) -> Option<Vec<&str>> {
    let mut org = Vec::new();
    for element in fea.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (scope, name) = element.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        if scope.contains('o') {
            org.push(name);
        }
    }
    Some(org)
}

pub fn decode(fea: Option<&str>, per: Option<&str>, fpm: Option<&str>) -> Vec<String> {
    let (Some(fea), Some(per), Some(fpm)) = (fea, per, fpm) else {
        return Vec::new();
    };
    let Some(features) = org_scoped_features(fea) else {
        return Vec::new();
    };
    let permissions: Vec<&str> = per.split(',').map(str::trim).collect();
    let Some(masks) = fpm
        .split(',')
        .map(|mask| parse_mask(mask.trim()))
        .collect::<Option<Vec<_>>>()
    else {
        return Vec::new();
    };

    let mut granted = Vec::new();
    for (feature, mask) in features.iter().zip(&masks) {
        for (bit, permission) in permissions.iter().enumerate() {
            if !permission.is_empty() && bit_is_set(mask, bit) {
                granted.push(format!("org:{feature}:{permission}"));
            }
        }
    }
    granted
}

/// Little-endian 32-bit limbs of a non-negative decimal integer; `None` unless it is all digits.
fn parse_mask(decimal: &str) -> Option<Vec<u32>> {
    if decimal.is_empty()
        || decimal.len() > MAX_MASK_DIGITS
        || !decimal.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut limbs: Vec<u32> = vec![0];
    for digit in decimal.bytes().map(|b| u64::from(b - b'0')) {
        let mut carry = digit;
        for limb in &mut limbs {
            let value = u64::from(*limb) * 10 + carry;
            *limb = value as u32;
            carry = value >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    Some(limbs)
}

fn bit_is_set(limbs: &[u32], bit: usize) -> bool {
    limbs
        .get(bit / 32)
        .is_some_and(|limb| limb & (1 << (bit % 32)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(n: usize) -> String {
        (0..n)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn clerk_fpm_vectors() {
        let p54 = perms(54);
        let p71 = perms(71);
        // (fea, per, fpm, expected)
        let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
            // Clerk docs example.
            (
                "o:dashboard,o:teams",
                "manage,read",
                "3,2",
                vec![
                    "org:dashboard:manage",
                    "org:dashboard:read",
                    "org:teams:read",
                ],
            ),
            (
                "o:impersonation",
                "read,manage",
                "3",
                vec!["org:impersonation:read", "org:impersonation:manage"],
            ),
            (
                "o:impersonation,o:memberships",
                "read,manage",
                "1,3",
                vec![
                    "org:impersonation:read",
                    "org:memberships:read",
                    "org:memberships:manage",
                ],
            ),
            (
                "uo:impersonation,o:memberships,uo:feature3",
                "read,manage",
                "1,3,1",
                vec![
                    "org:impersonation:read",
                    "org:memberships:read",
                    "org:memberships:manage",
                    "org:feature3:read",
                ],
            ),
            // User-scoped features are skipped when aligning.
            (
                "ou:memberships,u:impersonation",
                "read,manage",
                "3,0",
                vec!["org:memberships:read", "org:memberships:manage"],
            ),
            (
                "o:repositories,o:projects",
                "read,create,update,delete,revoke",
                "7,21",
                vec![
                    "org:repositories:read",
                    "org:repositories:create",
                    "org:repositories:update",
                    "org:projects:read",
                    "org:projects:update",
                    "org:projects:revoke",
                ],
            ),
            (
                "o:repositories,o:impersonation,o:billing",
                "manage,read,update",
                "6,0,3",
                vec![
                    "org:repositories:read",
                    "org:repositories:update",
                    "org:billing:manage",
                    "org:billing:read",
                ],
            ),
            // Masks above 2^53 decode exactly.
            (
                "o:f",
                &p54,
                "9007199254740993",
                vec!["org:f:p0", "org:f:p53"],
            ),
            (
                "o:f",
                &p54,
                "9007199254740995",
                vec!["org:f:p0", "org:f:p1", "org:f:p53"],
            ),
            // Bits beyond the permission list are discarded.
            ("o:f", &p54, "18014398509481984", vec![]),
            // Far beyond 64 bits: bit 0 and bit 70 (2^70 + 1).
            (
                "o:f",
                &p71,
                "1180591620717411303425",
                vec!["org:f:p0", "org:f:p70"],
            ),
            // Malformed masks grant nothing.
            ("o:f", "read", "1invalid", vec![]),
            ("o:f", "read", "-1", vec![]),
            ("o:f", "read", "1.5", vec![]),
            ("o:f", "read", "", vec![]),
            ("o:f,o:g", "read", "1,x", vec![]),
            // A feature element without a scope makes the claim invalid.
            ("f,o:g", "read", "1,1", vec![]),
            // Fewer masks than features: the rest get nothing.
            ("o:f,o:g", "read", "1", vec!["org:f:read"]),
        ];
        assert!(cases.len() >= 10);
        for (fea, per, fpm, expected) in cases {
            assert_eq!(
                decode(Some(fea), Some(per), Some(fpm)),
                expected,
                "fea={fea} per={per:.20} fpm={fpm}"
            );
        }
    }

    #[test]
    fn missing_parts_grant_nothing() {
        assert!(decode(Some("o:f"), None, Some("1")).is_empty());
        assert!(decode(Some("o:f"), Some("read"), None).is_empty());
        assert!(decode(None, Some("read"), Some("1")).is_empty());
    }
}
