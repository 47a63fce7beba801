//! The Clerk webhook payload parser: any bytes give an event or one of the fixed refusals
//! (never a message quoting the payload); an accepted user event names a plausible user id, and
//! the event type is the envelope's.
#![no_main]

use clerk_graphql::clerk::is_plausible_user_id;
use clerk_graphql::webhooks::event::{ClerkEvent, parse};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;

const REFUSALS: &[&str] = &[
    "not a Clerk event envelope (JSON with `type` and `data`)",
    "`data` is not a Clerk user",
    "`data` has no user id",
    "`data` has no session id",
    "`data.id` is not a Clerk user id",
];

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Err(error) => {
            let message = error.to_string();
            assert!(REFUSALS.contains(&message.as_str()), "{message}");
        }
        Ok((kind, event)) => {
            // Only a UTF-8 JSON object is an envelope. (JSON puts no bound on numbers, so an
            // ignored field may hold one that `Value` refuses as out of range.)
            let text = std::str::from_utf8(data).expect("accepted payloads are UTF-8");
            assert!(
                text.trim_start().starts_with('{'),
                "accepted payloads are objects"
            );
            serde_json::from_str::<IgnoredAny>(text).expect("accepted payloads are JSON");
            let Ok(envelope) = serde_json::from_str::<Value>(text) else {
                return;
            };
            assert_eq!(envelope["type"].as_str(), Some(kind.as_str()));
            let data_id = envelope["data"]["id"].as_str();
            match event {
                ClerkEvent::UserUpserted(user) => {
                    assert!(kind == "user.created" || kind == "user.updated");
                    assert!(is_plausible_user_id(&user.id));
                    assert_eq!(data_id, Some(user.id.as_str()));
                }
                ClerkEvent::UserDeleted { user_id } => {
                    assert_eq!(kind, "user.deleted");
                    assert!(is_plausible_user_id(&user_id));
                    assert_eq!(data_id, Some(user_id.as_str()));
                }
                ClerkEvent::SessionEnded { session_id } => {
                    assert!(kind.starts_with("session."));
                    assert_eq!(data_id, Some(session_id.as_str()));
                }
                ClerkEvent::Ignored => {}
            }
        }
    }
});
