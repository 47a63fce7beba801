//! The Clerk instance: its keys, the claims a token must carry, its Backend API and webhooks.

use std::time::Duration;

use clap::builder::TypedValueParser as _;

use super::Secret;
use super::accepted_tokens::AcceptedTokens;
use super::values::{self, Whole};

#[derive(Debug, Clone, clap::Args)]
pub struct ClerkConfig {
    /// Backend API key (`sk_…`); also the default JWKS source `{CLERK_API_URL}/v1/jwks`.
    #[arg(long, env = "CLERK_SECRET_KEY", value_parser = values::secret_key)]
    pub secret_key: Option<Secret>,
    /// Gives the issuer `https://<frontend-api-host>` and the session cookie's suffix; public by
    /// design.
    #[arg(long, env = "CLERK_PUBLISHABLE_KEY", value_parser = values::publishable_key)]
    pub publishable_key: Option<String>,
    /// PEM public key (with or without BEGIN/END lines, `\n` escapes accepted): networkless
    /// verification.
    // Kept normalised to carry BEGIN/END lines.
    #[arg(long = "jwt-key", env = "CLERK_JWT_KEY", value_parser = values::normalise_pem)]
    pub jwt_key_pem: Option<String>,
    /// Explicit JWKS URL.
    #[arg(long, env = "CLERK_JWKS_URL", value_parser = values::http_url)]
    pub jwks_url: Option<String>,
    /// Exact `iss` a token must carry [default: from the publishable key]. Always set when a key
    /// source is configured.
    #[arg(long, env = "CLERK_ISSUER", value_parser = values::http_url)]
    pub issuer: Option<String>,
    /// Comma-separated allowed `azp` origins; when set, `azp` is required.
    #[arg(long, env = "CLERK_AUTHORIZED_PARTIES", default_value = "",
        value_parser = values::origins)]
    pub authorized_parties: std::vec::Vec<String>,
    /// Comma-separated accepted `aud` (JWT templates only).
    #[arg(long, env = "CLERK_AUDIENCE", default_value = "", value_parser = values::list)]
    pub audience: std::vec::Vec<String>,
    /// Backend API base.
    #[arg(long, env = "CLERK_API_URL", default_value = "https://api.clerk.com",
        value_parser = values::http_url)]
    pub api_url: String,
    /// Leeway for `exp` / `nbf` / `iat`, in seconds.
    #[arg(long, env = "CLERK_CLOCK_SKEW_SECS", default_value = "5",
        value_parser = Whole::new(0u64, 300).of("seconds")
            .why(": a larger leeway extends every token's life").map(Duration::from_secs))]
    pub clock_skew: Duration,
    /// The longest `exp - iat` accepted, in seconds: ended sessions are remembered this long, so
    /// a longer-lived token could outlive its revocation.
    // See `auth::revocation`.
    #[arg(long, env = "CLERK_MAX_TOKEN_LIFETIME_SECS", default_value = "3600",
        value_parser = Whole::new(60u64, 86_400).of("seconds")
            .why(" (Clerk's session tokens live 60 s)").map(Duration::from_secs))]
    pub max_token_lifetime: Duration,
    /// Dot path of the app role in the session claims.
    #[arg(long, env = "CLERK_ROLE_CLAIM", default_value = "metadata.role",
        value_parser = values::dot_path)]
    pub role_claim: String,
    /// Kinds of token accepted, comma-separated: `session_token`, `api_key`, `m2m_token`,
    /// `oauth_token`, or `any`. Machine tokens are read from `Authorization` only.
    #[arg(long, env = "CLERK_ACCEPTED_TOKENS", default_value = "session_token",
        value_parser = AcceptedTokens::parse)]
    pub accepted_tokens: AcceptedTokens,
    /// This server's machine id (`mch_…`, Dashboard → Machines): an M2M token in JWT form must
    /// name it in `aud`. Without it, M2M JWTs are refused (`token_invalid_audience`).
    #[arg(long, env = "CLERK_MACHINE_ID", value_parser = values::machine_id)]
    pub machine_id: Option<String>,
    /// Comma-separated scopes users may grant the API keys they create through GraphQL
    /// (`createApiKey`); empty: keys without scopes only.
    #[arg(long, env = "API_KEY_ALLOWED_SCOPES", default_value = "", value_parser = values::list)]
    pub api_key_allowed_scopes: std::vec::Vec<String>,
    /// `whsec_…`, several separated by spaces during rotation (alias `CLERK_WEBHOOK_SECRET`).
    #[arg(long, env = "CLERK_WEBHOOK_SIGNING_SECRET", default_value = "",
        value_parser = values::webhook_secrets)]
    pub webhook_signing_secrets: std::vec::Vec<Secret>,
    #[arg(skip)]
    pub jwks: JwksSettings,
}

/// How the remote key set is cached and fetched. Not environment variables: the defaults follow
/// Clerk's own SDKs; tests shorten them.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// A key set older than this is refreshed in the background while still being served.
    pub ttl: Duration,
    /// Minimum time between two fetches caused by an unknown `kid`, and between a failed fetch and
    /// the next one: a flood of tokens with random kids must not become a flood of fetches.
    pub refresh_cooldown: Duration,
    /// Time limit of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Attempts per fetch (the first one included).
    pub max_attempts: u32,
    /// Back-off before the n-th retry is `retry_base_delay * 2^n`, times a random factor in [1, 2).
    pub retry_base_delay: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            refresh_cooldown: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(125),
        }
    }
}

/// Where token-verification keys come from, in ARCHITECTURE §4's order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySourceKind {
    /// `CLERK_JWT_KEY`: networkless.
    Pem,
    /// A JWKS document fetched over HTTP, optionally with the Backend API secret as bearer.
    Jwks { url: String, authenticated: bool },
    /// Nothing configured: every presented token is refused with `jwks_unavailable`.
    None,
}

impl ClerkConfig {
    pub fn key_source(&self) -> KeySourceKind {
        if self.jwt_key_pem.is_some() {
            KeySourceKind::Pem
        } else if let Some(url) = &self.jwks_url {
            KeySourceKind::Jwks {
                url: url.clone(),
                authenticated: false,
            }
        } else if self.secret_key.is_some() {
            KeySourceKind::Jwks {
                url: format!("{}/v1/jwks", self.api_url),
                authenticated: true,
            }
        } else if let Some(issuer) = &self.issuer {
            KeySourceKind::Jwks {
                url: format!("{issuer}/.well-known/jwks.json"),
                authenticated: false,
            }
        } else {
            KeySourceKind::None
        }
    }
}

/// `CLERK_MAX_TOKEN_LIFETIME_SECS` by default: an hour. Clerk's session tokens live 60 s, dev
/// tokens an hour.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
