//! Clerk's `User` object, as the Backend API returns it (ARCHITECTURE §9).
//!
//! Only the fields this server uses are typed. Parsing is deliberately tolerant: unknown fields are
//! ignored, and every field other than `id` falls back to a default when it is missing or `null`,
//! so that a new or retired field in a future API version degrades one value instead of failing a
//! whole batch of users (one bad user would otherwise fail every user of a page).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Clerk user. Timestamps are Unix milliseconds, as Clerk sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkUser {
    pub id: String,
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// Readable from the Frontend and Backend APIs but writable only from the Backend API, which
    /// is why the application role lives here (see [`ClerkUser::app_role`]).
    #[serde(default = "empty_object", deserialize_with = "null_as_empty_object")]
    pub public_metadata: Value,
    /// Required by Clerk; `0` only if a response ever omits it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub created_at: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub updated_at: i64,
    #[serde(default)]
    pub last_sign_in_at: Option<i64>,
}

/// One of a user's email addresses. Clerk's object carries verification details too; the server
/// only needs the address and the id that `primary_email_address_id` points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub email_address: String,
}

impl ClerkUser {
    /// A user known only by id (no profile, Clerk times 0): older than any real snapshot.
    pub fn with_id(id: &str) -> Self {
        Self {
            id: id.to_string(),
            primary_email_address_id: None,
            email_addresses: Vec::new(),
            username: None,
            first_name: None,
            last_name: None,
            image_url: None,
            public_metadata: empty_object(),
            created_at: 0,
            updated_at: 0,
            last_sign_in_at: None,
        }
    }

    /// The primary email address. Clerk marks it by id rather than by position, so the first
    /// address of the list is not necessarily the primary one.
    pub fn primary_email(&self) -> Option<&str> {
        let primary_id = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|address| address.id == primary_id)
            .map(|address| address.email_address.as_str())
    }

    /// The application role, `public_metadata.role`, when it is a string. Anything else (absent,
    /// a number, an object) is no role at all rather than a guess.
    pub fn app_role(&self) -> Option<&str> {
        self.public_metadata.get("role")?.as_str()
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// `#[serde(default)]` only covers a missing field; this also covers an explicit `null`.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `public_metadata: null` means "no metadata", i.e. `{}` (a `Value` would otherwise keep `Null`).
fn null_as_empty_object<'de, D>(deserializer: D) -> Result<Value, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<Value>::deserialize(deserializer)?
        .filter(|value| !value.is_null())
        .unwrap_or_else(empty_object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_a_minimal_user_with_defaults() {
        let user: ClerkUser = serde_json::from_value(json!({
            "id": "user_1",
            "email_addresses": null,
            "public_metadata": null,
            "unknown_field": [1, 2, 3]
        }))
        .unwrap();
        assert_eq!(user.id, "user_1");
        assert!(user.email_addresses.is_empty());
        assert_eq!(user.public_metadata, json!({}));
        assert_eq!(user.created_at, 0);
        assert_eq!(user.primary_email(), None);
        assert_eq!(user.app_role(), None);
    }

    #[test]
    fn resolves_the_primary_email_by_id_and_the_role_when_it_is_a_string() {
        let user: ClerkUser = serde_json::from_value(json!({
            "id": "user_1",
            "primary_email_address_id": "idn_2",
            "email_addresses": [
                {"id": "idn_1", "email_address": "old@example.com"},
                {"id": "idn_2", "email_address": "new@example.com"}
            ],
            "public_metadata": {"role": "admin"},
            "created_at": 1716883200000_i64,
            "updated_at": 1716883200001_i64,
            "last_sign_in_at": 1654012591514_i64
        }))
        .unwrap();
        assert_eq!(user.primary_email(), Some("new@example.com"));
        assert_eq!(user.app_role(), Some("admin"));
        assert_eq!(user.last_sign_in_at, Some(1654012591514));

        let numeric_role = ClerkUser {
            public_metadata: json!({"role": 1}),
            ..user
        };
        assert_eq!(numeric_role.app_role(), None);
    }
}
