//! What a user may ask for when creating a key: checked before Clerk is called.

use async_graphql::Result;

use crate::graphql::errors;

/// Clerk's own limit on a key's name is not documented; this keeps names display-sized.
pub const MAX_NAME_CHARS: usize = 200;
/// At least a minute (Clerk's shortest), at most ten years.
pub const MIN_LIFETIME_SECS: i64 = 60;
pub const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

pub fn name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(errors::bad_user_input(
            "name",
            format!("a key's name is 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name)
}

/// Every scope must be on the allow-list; duplicates are dropped.
pub fn scopes(requested: Vec<String>, allowed: &[String]) -> Result<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested {
        if !allowed.contains(&scope) {
            return Err(errors::bad_user_input(
                "scopes",
                format!(
                    "the scope `{scope}` may not be granted (allowed: {})",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

pub fn lifetime(seconds: Option<i64>) -> Result<Option<u64>> {
    match seconds {
        None => Ok(None),
        Some(s) if (MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&s) => Ok(Some(s as u64)),
        Some(_) => Err(errors::bad_user_input(
            "expiresInSeconds",
            format!(
                "from {MIN_LIFETIME_SECS} to {MAX_LIFETIME_SECS} seconds, or null for no expiry"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_scopes_and_lifetimes_are_checked() {
        assert_eq!(name("  ci  ").unwrap(), "ci");
        assert!(name(" ").is_err() && name(&"x".repeat(201)).is_err());
        let allowed = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            scopes(vec!["b".into(), "b".into()], &allowed).unwrap(),
            vec!["b".to_string()]
        );
        assert!(scopes(vec!["c".into()], &allowed).is_err());
        assert!(scopes(vec!["a".into()], &[]).is_err());
        assert_eq!(lifetime(None).unwrap(), None);
        assert_eq!(lifetime(Some(60)).unwrap(), Some(60));
        assert!(lifetime(Some(59)).is_err() && lifetime(Some(MAX_LIFETIME_SECS + 1)).is_err());
    }
}
