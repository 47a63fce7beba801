//! `CLERK_ACCEPTED_TOKENS`: which kinds of Clerk token may authenticate a request, as in
//! `@clerk/backend`'s `authenticateRequest({ acceptsToken })`.

use std::fmt;

/// The kinds of token Clerk issues. Session tokens come from browsers; the others are machine
/// callers' (another service, a script, a third-party app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A user's session JWT.
    Session,
    /// `ak_…`: a long-lived key of a user or an organisation.
    ApiKey,
    /// `mt_…` or a JWT with the M2M `cat`: one machine (`mch_…`) calling another.
    M2m,
    /// `oat_…` or an `at+jwt` JWT: a third-party app acting for a user (Clerk as OAuth provider).
    OAuth,
}

impl TokenKind {
    pub const ALL: [Self; 4] = [Self::Session, Self::ApiKey, Self::M2m, Self::OAuth];

    /// The configuration value (and Clerk's `tokenType`) naming this kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Session => "session_token",
            Self::ApiKey => "api_key",
            Self::M2m => "m2m_token",
            Self::OAuth => "oauth_token",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds a request may authenticate with; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedTokens(Vec<TokenKind>);

impl AcceptedTokens {
    pub fn sessions_only() -> Self {
        Self(vec![TokenKind::Session])
    }

    pub fn accepts(&self, kind: TokenKind) -> bool {
        self.0.contains(&kind)
    }

    /// A comma-separated list of kind names, or `any`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut kinds = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "any" {
                return Ok(Self(TokenKind::ALL.to_vec()));
            }
            let Some(kind) = TokenKind::ALL.into_iter().find(|k| k.name() == name) else {
                return Err(format!(
                    "`{name}` is not a token kind: expected a comma-separated list of \
                     session_token, api_key, m2m_token, oauth_token, or `any`"
                ));
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err("expected at least one token kind, e.g. session_token,api_key".into());
        }
        Ok(Self(kinds))
    }
}

impl Default for AcceptedTokens {
    fn default() -> Self {
        Self::sessions_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_any_and_names_a_bad_value() {
        let kinds = AcceptedTokens::parse("session_token, api_key").unwrap();
        assert!(kinds.accepts(TokenKind::ApiKey) && kinds.accepts(TokenKind::Session));
        assert!(!kinds.accepts(TokenKind::M2m));
        let any = AcceptedTokens::parse("any").unwrap();
        assert!(TokenKind::ALL.into_iter().all(|k| any.accepts(k)));
        assert!(
            AcceptedTokens::parse("api_keys")
                .unwrap_err()
                .contains("`api_keys`")
        );
        assert!(AcceptedTokens::parse(" , ").is_err());
    }
}
