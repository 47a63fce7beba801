//! Why a presented token was refused. Each variant maps to one stable `reason` string
//! (ARCHITECTURE §4) that clients and the troubleshooting guide rely on.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    Malformed,
    InvalidAlgorithm,
    TypeMismatch,
    InvalidSignature,
    Expired,
    NotActiveYet,
    IatInTheFuture,
    InvalidIssuer,
    InvalidAuthorizedParty,
    InvalidAudience,
    KidMismatch,
    /// No key source is configured at all: a deployment problem that retrying cannot fix.
    NoKeySource,
    /// The key source could not be reached and no cached key fits: our fault, so 503.
    JwksUnavailable,
    UnsupportedScheme,
    /// The session ended (signed out, revoked, removed) or its user was deleted.
    SessionRevoked,
    /// `exp - iat` is longer than `CLERK_MAX_TOKEN_LIFETIME_SECS`.
    LifetimeTooLong,
    /// An opaque machine token Clerk does not know, or says is revoked or expired.
    MachineTokenInvalid,
    /// Clerk could not verify an opaque machine token (down, rate-limiting, or refusing our
    /// secret key): our fault, so 503.
    ClerkUnavailable,
}

impl AuthFailure {
    /// Every failure. The fuzz and property tests check that each refusal they provoke is one of
    /// these, and the test below that each one's reason is documented: no client ever sees an
    /// undocumented reason.
    pub const ALL: [Self; 18] = [
        Self::Malformed,
        Self::InvalidAlgorithm,
        Self::TypeMismatch,
        Self::InvalidSignature,
        Self::Expired,
        Self::NotActiveYet,
        Self::IatInTheFuture,
        Self::InvalidIssuer,
        Self::InvalidAuthorizedParty,
        Self::InvalidAudience,
        Self::KidMismatch,
        Self::NoKeySource,
        Self::JwksUnavailable,
        Self::UnsupportedScheme,
        Self::SessionRevoked,
        Self::LifetimeTooLong,
        Self::MachineTokenInvalid,
        Self::ClerkUnavailable,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::InvalidAlgorithm => "token_invalid_algorithm",
            Self::TypeMismatch => "token_type_mismatch",
            Self::InvalidSignature => "token_invalid_signature",
            Self::Expired => "token_expired",
            Self::NotActiveYet => "token_not_active_yet",
            Self::IatInTheFuture => "token_iat_in_the_future",
            Self::InvalidIssuer => "token_invalid_issuer",
            Self::InvalidAuthorizedParty => "token_invalid_authorized_party",
            Self::InvalidAudience => "token_invalid_audience",
            Self::KidMismatch => "jwk_kid_mismatch",
            Self::NoKeySource | Self::JwksUnavailable => "jwks_unavailable",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::SessionRevoked => "session_revoked",
            Self::LifetimeTooLong => "token_lifetime_too_long",
            Self::MachineTokenInvalid => "machine_token_invalid",
            Self::ClerkUnavailable => "clerk_unavailable",
        }
    }

    /// A short human explanation. It never contains any part of the token.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "The session token is not a well-formed Clerk session JWT.",
            Self::InvalidAlgorithm => {
                "The session token is signed with an algorithm other than RS256, RS384 or RS512."
            }
            Self::TypeMismatch => {
                "The token is not a Clerk session token (JWT template, machine token or wrong typ)."
            }
            Self::InvalidSignature => "The session token signature is invalid.",
            Self::Expired => "The session token has expired.",
            Self::NotActiveYet => "The session token is not valid yet (nbf is in the future).",
            Self::IatInTheFuture => {
                "The session token was issued in the future (iat); check the clocks."
            }
            Self::InvalidIssuer => "The session token was issued by another Clerk instance (iss).",
            Self::InvalidAuthorizedParty => {
                "The session token was minted for an origin that is not authorized (azp)."
            }
            Self::InvalidAudience => "The session token audience (aud) is not accepted.",
            Self::KidMismatch => "No signing key matches the kid of the session token.",
            Self::NoKeySource => {
                "The server has no key to verify session tokens with: set CLERK_JWT_KEY, CLERK_SECRET_KEY or CLERK_PUBLISHABLE_KEY."
            }
            Self::JwksUnavailable => {
                "The signing keys could not be loaded from Clerk; try again shortly."
            }
            Self::UnsupportedScheme => "The Authorization header must use the Bearer scheme.",
            Self::SessionRevoked => {
                "The session has ended (signed out, revoked or removed), or the user was deleted."
            }
            Self::LifetimeTooLong => {
                "The session token lives longer than this server accepts (CLERK_MAX_TOKEN_LIFETIME_SECS)."
            }
            Self::MachineTokenInvalid => {
                "The machine token (API key, M2M or OAuth access token) is unknown, revoked or expired."
            }
            Self::ClerkUnavailable => {
                "The machine token could not be verified with Clerk; try again shortly."
            }
        }
    }

    /// True when the failure is the server's (a dependency is down), not the client's: answered
    /// with 503 instead of 401 so that frontends do not sign their users out.
    pub fn is_service_unavailable(self) -> bool {
        matches!(self, Self::JwksUnavailable | Self::ClerkUnavailable)
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for AuthFailure {}

#[cfg(test)]
mod tests {
    use super::AuthFailure;

    #[test]
    fn every_reason_is_in_the_readme_table_and_architecture() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("## Authentication: what is checked, and the 401 reasons")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README's section on 401 reasons");
        let architecture = include_str!("../../ARCHITECTURE.md");
        for failure in AuthFailure::ALL {
            let reason = format!("`{}`", failure.reason());
            assert!(table.contains(&reason), "{reason} not in README's table");
            assert!(
                architecture.contains(&reason),
                "{reason} not in ARCHITECTURE.md"
            );
        }
    }
}
