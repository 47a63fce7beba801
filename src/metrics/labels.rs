//! The label values this module owns: each a closed set, rendered as a `&'static str` so that
//! recording a value allocates nothing for its labels.

use std::sync::LazyLock;

/// The value of a `reason` label where there is no reason (an accepted token, a delivery applied).
pub const NONE: &str = "none";
/// The value of a label whose input is outside its set.
pub const OTHER: &str = "other";

/// `http.request.method`: the methods of RFC 9110 and PATCH, else `_OTHER` (OpenTelemetry's
/// word), so that a client inventing methods cannot grow the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpMethod(&'static str);

impl HttpMethod {
    pub fn of(method: &str) -> Self {
        Self(match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            "CONNECT" => "CONNECT",
            "TRACE" => "TRACE",
            _ => "_OTHER",
        })
    }

    pub fn label(self) -> &'static str {
        self.0
    }
}

/// `http.route`: the router's pattern of the route that answered. A path no route matches is
/// `unmatched`, never the path itself (it could be anything a client sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpRoute(&'static str);

impl HttpRoute {
    /// The router's patterns (`server::router`, `playground`, `webhooks`). A pattern added there
    /// and not here is counted as `other` (`tests/api/metrics.rs` checks the ones it reaches).
    pub const PATTERNS: [&'static str; 7] = [
        "/graphql",
        "/graphql/ws",
        "/healthz",
        "/readyz",
        "/webhooks/clerk",
        "/playground/config.json",
        "/playground/{file}",
    ];

    /// `matched` is axum's `MatchedPath`, `None` when the router's fallback answered: the
    /// playground's own router (whose patterns the outer router cannot see, so they are told
    /// from `path` here), or no route at all.
    pub fn of(matched: Option<&str>, path: &str) -> Self {
        let pattern = match matched {
            Some(pattern) => pattern,
            None => match path.strip_prefix("/playground/") {
                Some("config.json") => "/playground/config.json",
                Some(file) if !file.is_empty() && !file.contains('/') => "/playground/{file}",
                _ => return Self("unmatched"),
            },
        };
        Self(
            Self::PATTERNS
                .into_iter()
                .find(|known| *known == pattern)
                .unwrap_or(OTHER),
        )
    }

    pub fn label(self) -> &'static str {
        self.0
    }
}

/// An HTTP status code as a label: only this server (or Clerk's answers to it) produce them, so
/// the set is small; the exact code tells a 401 from a 429 where a class (4xx) would not.
pub fn status_code_label(code: u16) -> &'static str {
    match code {
        100..=599 => number_label(code),
        _ => OTHER,
    }
}

/// The text of a status or close code from 100 to 4999, made once for all of them so that a
/// label costs no allocation.
fn number_label(code: u16) -> &'static str {
    static NUMBERS: LazyLock<Vec<String>> =
        LazyLock::new(|| (100..5000).map(|code: u16| code.to_string()).collect());
    &NUMBERS[usize::from(code - 100)]
}

/// `graphql_operation_type`: `unknown` when the document was refused before it was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationType {
    Query,
    Mutation,
    Subscription,
    Unknown,
}

impl OperationType {
    pub fn label(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Subscription => "subscription",
            Self::Unknown => "unknown",
        }
    }
}

/// What became of a GraphQL operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphqlOutcome {
    /// Executed without an error.
    Success,
    /// Executed, with errors (field errors: a partial answer; or it ran out of time).
    Errors,
    /// Not executed: parse, validation, limits, trusted documents, variables (a request error).
    Refused,
}

impl GraphqlOutcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Errors => "errors",
            Self::Refused => "refused",
        }
    }
}

/// The `extensions.code` values of ARCHITECTURE §6; anything else is `other`.
pub const ERROR_CODES: [&str; 13] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "BAD_REQUEST",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_IN_LIST",
    "PERSISTED_QUERY_HASH_MISMATCH",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_SERVER_ERROR",
];

pub fn error_code_label(code: &str) -> &'static str {
    ERROR_CODES
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or(OTHER)
}

/// The `extensions.limit` values of `graphql::limits` (README, "Request limits").
pub const LIMITS: [&str; 7] = [
    "depth",
    "complexity",
    "recursiveDepth",
    "aliases",
    "rootFields",
    "tokens",
    "variableValues",
];

pub fn limit_label(limit: &str) -> &'static str {
    LIMITS
        .into_iter()
        .find(|known| *known == limit)
        .unwrap_or(OTHER)
}

/// What became of a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenResult {
    Accepted,
    /// A pending session (`sts: "pending"`): served as anonymous.
    Pending,
    Refused,
}

impl TokenResult {
    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Pending => "pending",
            Self::Refused => "refused",
        }
    }
}

/// A cache lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheLookup {
    Hit,
    Miss,
    /// Found, but made under an older key set: verified again.
    Stale,
}

impl CacheLookup {
    pub fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Stale => "stale",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwksResult {
    Success,
    Failure,
}

impl JwksResult {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// An endpoint of Clerk's Backend API: its method and OpenTelemetry `url.template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClerkEndpoint {
    GetUser,
    GetUsers,
    ListUsers,
    CreateApiKey,
    ListApiKeys,
    RevokeApiKey,
    VerifyApiKey,
    VerifyM2mToken,
    VerifyOAuthToken,
}

impl ClerkEndpoint {
    /// The operation's name in the logs.
    pub fn operation(self) -> &'static str {
        match self {
            Self::GetUser => "get_user",
            Self::GetUsers => "get_users",
            Self::ListUsers => "list_users",
            Self::CreateApiKey => "create_api_key",
            Self::ListApiKeys => "list_api_keys",
            Self::RevokeApiKey => "revoke_api_key",
            Self::VerifyApiKey => "verify_api_key",
            Self::VerifyM2mToken => "verify_m2m_token",
            Self::VerifyOAuthToken => "verify_oauth_token",
        }
    }

    pub fn url_template(self) -> &'static str {
        match self {
            Self::GetUser => "/v1/users/{user_id}",
            Self::GetUsers | Self::ListUsers => "/v1/users",
            Self::CreateApiKey | Self::ListApiKeys => "/api_keys",
            Self::RevokeApiKey => "/api_keys/{api_key_id}/revoke",
            Self::VerifyApiKey => "/api_keys/verify",
            Self::VerifyM2mToken => "/m2m_tokens/verify",
            Self::VerifyOAuthToken => "/oauth_applications/access_tokens/verify",
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Self::GetUser | Self::GetUsers | Self::ListUsers | Self::ListApiKeys => "GET",
            _ => "POST",
        }
    }
}

/// Why a Backend API request got no answer (OpenTelemetry's `error.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientError {
    /// No answer within the call's time budget.
    Timeout,
    /// Connection refused or reset, TLS, DNS…
    Transport,
}

impl ClientError {
    pub fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Transport => "transport",
        }
    }
}

/// Why a user left the Clerk user cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserCacheEviction {
    /// Said to have changed: a webhook, an API key revoked here, or another replica through
    /// Redis.
    Invalidated,
    /// Its time to live ran out.
    Expired,
    /// The cache was full.
    Size,
}

impl UserCacheEviction {
    pub const ALL: [Self; 3] = [Self::Invalidated, Self::Expired, Self::Size];

    pub fn label(self) -> &'static str {
        match self {
            Self::Invalidated => "invalidated",
            Self::Expired => "expired",
            Self::Size => "size",
        }
    }
}

/// A Clerk event type: those this server acts on, else `other`; `unknown` while the payload
/// has not been read (a refused signature: its body is never parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookEventType(&'static str);

impl WebhookEventType {
    pub const KNOWN: [&'static str; 6] = [
        "user.created",
        "user.updated",
        "user.deleted",
        "session.ended",
        "session.revoked",
        "session.removed",
    ];
    pub const UNKNOWN: Self = Self("unknown");

    pub fn of(event_type: &str) -> Self {
        Self(
            Self::KNOWN
                .into_iter()
                .find(|known| *known == event_type)
                .unwrap_or(OTHER),
        )
    }

    pub fn label(self) -> &'static str {
        self.0
    }
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    Applied,
    /// Its `svix-id` was applied before.
    Duplicate,
    /// A type the server does not act on: acknowledged.
    Ignored,
    /// Refused, with the `error` code of the answer (`webhooks::handler`).
    Refused(&'static str),
}

impl WebhookOutcome {
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Applied => ("applied", NONE),
            Self::Duplicate => ("duplicate", NONE),
            Self::Ignored => ("ignored", NONE),
            Self::Refused(reason) => ("refused", reason),
        }
    }
}

/// How a WebSocket connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketEnd {
    /// The client closed it.
    Client,
    /// It dropped, or the client stopped reading.
    Gone,
    /// We closed it with this code.
    Code(u16),
}

pub fn close_code_label(end: SocketEnd) -> &'static str {
    match end {
        SocketEnd::Client => "client",
        SocketEnd::Gone => "gone",
        SocketEnd::Code(code @ 1000..=4999) => number_label(code),
        SocketEnd::Code(_) => OTHER,
    }
}

/// A database statement by its first keyword (`db.operation.name`): never the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DbOperation(&'static str);

impl DbOperation {
    pub const KNOWN: [&'static str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

    pub fn of(sql: &str) -> Self {
        let keyword = sql
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default();
        Self(
            Self::KNOWN
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(keyword))
                .unwrap_or(OTHER),
        )
    }

    pub fn label(self) -> &'static str {
        self.0
    }
}

/// A Redis round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedisOutcome {
    Ok,
    Error,
    /// Not connected: nothing was sent.
    Unavailable,
}

impl RedisOutcome {
    pub const ALL: [Self; 3] = [Self::Ok, Self::Error, Self::Unavailable];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unavailable => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    /// A code missing here would be counted as `other`: the list is the documented one.
    #[test]
    fn the_error_codes_are_those_of_architecture_section_6() {
        let architecture = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ARCHITECTURE.md"));
        let section = architecture
            .split("\n## 6. Error codes\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("ARCHITECTURE.md has a section 6, Error codes");
        let mut documented: Vec<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `")?.split_once("` |"))
            .map(|(code, _)| code)
            .filter(|code| code.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        documented.sort_unstable();
        let mut labelled = super::ERROR_CODES.to_vec();
        labelled.sort_unstable();
        assert_eq!(labelled, documented);
    }
}
