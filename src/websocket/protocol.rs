//! The two GraphQL-over-WebSocket protocols, as messages: `graphql-transport-ws` (the `graphql-ws`
//! library's protocol, what current clients speak) and the legacy `graphql-ws` of
//! subscriptions-transport-ws (Apollo's old client).
//!
//! Close codes are graphql-transport-ws's: a client library decides from them whether to
//! reconnect (graphql-ws retries after 4403 and 4408, and gives up after 4400, 4401, 4409 and
//! 4429).

use async_graphql::{Response, ServerError};
use serde::Deserialize;
use serde_json::{Value, json};

pub const CLOSE_BAD_REQUEST: u16 = 4400;
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
pub const CLOSE_FORBIDDEN: u16 = 4403;
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const CLOSE_DUPLICATE_ID: u16 = 4409;
pub const CLOSE_TOO_MANY_INITS: u16 = 4429;
/// RFC 6455: a message too big to process.
pub const CLOSE_TOO_BIG: u16 = 1009;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    Transport,
    /// `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    /// The subprotocols offered, in order of preference.
    pub const NAMES: [&'static str; 2] = ["graphql-transport-ws", "graphql-ws"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "graphql-transport-ws" => Some(Self::Transport),
            "graphql-ws" => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// What a client sends. Both protocols' names are accepted for each message, since they share
/// the shape (`start`/`subscribe`, `stop`/`complete`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        /// A GraphQL-over-HTTP request: text, or a trusted document's hash.
        payload: Box<crate::http::graphql::RequestParams>,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    /// Its payload, if any, is ignored.
    Pong {},
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What the server sends, already serialised.
pub struct ServerMessages(pub Protocol);

impl ServerMessages {
    pub fn connection_ack(&self) -> String {
        json!({"type": "connection_ack"}).to_string()
    }

    pub fn pong(&self) -> String {
        json!({"type": "pong"}).to_string()
    }

    /// One result of an operation.
    pub fn next(&self, id: &str, response: &Response) -> String {
        let kind = match self.0 {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        json!({"type": kind, "id": id, "payload": response}).to_string()
    }

    /// The operation failed before it ran (it is over: no `complete` follows).
    pub fn error(&self, id: &str, errors: &[ServerError]) -> String {
        json!({"type": "error", "id": id, "payload": errors}).to_string()
    }

    pub fn complete(&self, id: &str) -> String {
        json!({"type": "complete", "id": id}).to_string()
    }
}
