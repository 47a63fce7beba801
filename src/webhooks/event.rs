//! Clerk webhook payloads: the Svix envelope `{data, object: "event", type, timestamp,
//! instance_id}` and the `data` of the event types this server acts on.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clerk::{ClerkUser, is_plausible_user_id};

/// An event this server acts on, or one it acknowledges and ignores.
#[derive(Debug, Clone, PartialEq)]
pub enum ClerkEvent {
    /// `user.created` or `user.updated`: the whole user, as the Backend API returns it.
    UserUpserted(Box<ClerkUser>),
    /// `user.deleted`: `{id, deleted: true, object: "user"}`.
    UserDeleted { user_id: String },
    /// `session.ended`, `session.revoked` or `session.removed`: the session is over, so its
    /// open subscriptions end.
    SessionEnded { session_id: String },
    /// Any other type (organisations, emails…): acknowledged, not applied.
    Ignored,
}

/// What is wrong with a payload, in fixed words: serde's own messages quote the offending value,
/// which can be personal data, and this one is logged and sent back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PayloadError(&'static str);

/// The event type and the event. The type is kept for the record (`webhook_events`).
pub fn parse(body: &[u8]) -> Result<(String, ClerkEvent), PayloadError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        event_type: String,
        data: Value,
    }
    /// The part of `data` that deletions and session events share.
    #[derive(Deserialize)]
    struct Deleted {
        id: String,
    }

    let not_an_envelope =
        || PayloadError("not a Clerk event envelope (JSON with `type` and `data`)");
    // UTF-8 only: serde_json skips the fields a struct ignores without checking their bytes.
    let body = std::str::from_utf8(body).map_err(|_| not_an_envelope())?;
    // Objects only, here and for `data`: serde's derived structs also accept a JSON array of
    // the fields in order, a form Clerk never sends.
    if !body.trim_start().starts_with('{') {
        return Err(not_an_envelope());
    }
    let envelope: Envelope = serde_json::from_str(body).map_err(|_| not_an_envelope())?;
    let event = match envelope.event_type.as_str() {
        "user.created" | "user.updated" => {
            let user: ClerkUser = from_object(envelope.data, "`data` is not a Clerk user")?;
            check_user_id(&user.id)?;
            ClerkEvent::UserUpserted(Box::new(user))
        }
        "user.deleted" => {
            let deleted: Deleted = from_object(envelope.data, "`data` has no user id")?;
            check_user_id(&deleted.id)?;
            ClerkEvent::UserDeleted {
                user_id: deleted.id,
            }
        }
        "session.ended" | "session.revoked" | "session.removed" => {
            let session: Deleted = from_object(envelope.data, "`data` has no session id")?;
            ClerkEvent::SessionEnded {
                session_id: session.id,
            }
        }
        _ => ClerkEvent::Ignored,
    };
    Ok((envelope.event_type, event))
}

/// `data` as `T`, from a JSON object only (see `parse`).
fn from_object<T: DeserializeOwned>(data: Value, error: &'static str) -> Result<T, PayloadError> {
    if !data.is_object() {
        return Err(PayloadError(error));
    }
    serde_json::from_value(data).map_err(|_| PayloadError(error))
}

fn check_user_id(id: &str) -> Result<(), PayloadError> {
    if is_plausible_user_id(id) {
        Ok(())
    } else {
        Err(PayloadError("`data.id` is not a Clerk user id"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_json(value: Value) -> Result<(String, ClerkEvent), PayloadError> {
        parse(value.to_string().as_bytes())
    }

    #[test]
    fn user_events_parse_and_others_are_ignored() {
        let (kind, event) = parse_json(json!({
            "type": "user.updated", "object": "event", "timestamp": 1, "instance_id": "ins_1",
            "data": {"id": "user_1", "first_name": "Ada", "updated_at": 5}
        }))
        .unwrap();
        assert_eq!(kind, "user.updated");
        let ClerkEvent::UserUpserted(user) = event else {
            panic!("{event:?}")
        };
        assert_eq!((user.id.as_str(), user.updated_at), ("user_1", 5));

        let (_, event) = parse_json(json!({
            "type": "user.deleted", "data": {"id": "user_1", "deleted": true, "object": "user"}
        }))
        .unwrap();
        assert_eq!(
            event,
            ClerkEvent::UserDeleted {
                user_id: "user_1".into()
            }
        );

        let (kind, event) =
            parse_json(json!({"type": "session.created", "data": {"id": "sess_1"}})).unwrap();
        assert_eq!(
            (kind.as_str(), event),
            ("session.created", ClerkEvent::Ignored)
        );
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for body in [
            json!({"test": 2432232314_u64}),
            json!({"type": 5, "data": {}}),
            json!({"type": "user.created", "data": {"first_name": "no id"}}),
            json!({"type": "user.created", "data": {"id": "user 1"}}),
            json!({"type": "user.deleted", "data": {"deleted": true}}),
            json!({"type": "user.updated", "data": null}),
        ] {
            assert!(parse_json(body.clone()).is_err(), "{body}");
        }
        assert!(parse(b"not json").is_err());
        assert!(parse(b"").is_err());
    }
}
