//! Authenticating a request once, before GraphQL runs: the axum middleware for HTTP, and the
//! same rules for a WebSocket's `connection_init` and token refresh.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::machine_tokens::MachineTokens;
use crate::auth::token::{TokenCarrier, TokenSource};
use crate::auth::token_kind::{self, Detected};
use crate::auth::verifier::Recall;
use crate::auth::{AuthFailure, Verified, Verifier, Viewer};
use crate::config::{AcceptedTokens, TokenKind};
use crate::http::error::ApiError;
use crate::metrics::{self, TokenResult};
use crate::rate_limit::{ClientIp, RateLimiter};

/// Request extension: the viewer, or `None` for an anonymous request.
#[derive(Debug, Clone, Default)]
pub struct Authentication(pub Option<Arc<Viewer>>);

/// Where tokens are found and how they are verified.
#[derive(Clone)]
pub struct Authenticator {
    pub tokens: TokenSource,
    pub verifier: Arc<Verifier>,
    /// `CLERK_ACCEPTED_TOKENS`.
    pub accepted: AcceptedTokens,
    /// Verifies opaque machine tokens; `None` without `CLERK_SECRET_KEY` (they are refused then).
    pub machine_tokens: Option<Arc<MachineTokens>>,
    /// Whose lockout stops new opaque tokens before they cost a Clerk call.
    pub rate_limits: Arc<RateLimiter>,
}

impl Authenticator {
    /// The viewer an HTTP request's headers authenticate: `Ok(None)` when they carry no token (or
    /// a pending session's, which Clerk treats as signed out), `Err` when the token presented was
    /// refused. Any kind of `CLERK_ACCEPTED_TOKENS` is verified. A session token verified lately
    /// is answered by the verified-token cache first ([`Self::recall`]); any other token's kind
    /// is told from its shape, so that a kind not accepted costs no key lookup and no Clerk call.
    ///
    /// `client` is the address the rate limits count (`None` when they do not run): while it
    /// is locked out, an opaque token this server has not verified lately is refused with the
    /// lockout's 429 before Clerk is asked (`rate_limit`).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Option<Arc<Viewer>>, ApiError> {
        let Some((token, carrier)) = self.tokens.extract(headers).inspect_err(count_refusal)?
        else {
            return Ok(None);
        };
        let (kind, verified) = match self.recall(token).await {
            Some(Recall::Known(verified)) => (TokenKind::Session, verified.map(signed_in_viewer)),
            recalled => {
                let detected = token_kind::detect(token);
                let admitted = self.admit(detected, carrier);
                if admitted.is_ok()
                    && detected.opaque
                    && let (Some(ip), Some(machine_tokens)) = (client, &self.machine_tokens)
                    && !machine_tokens.is_known(token)
                {
                    self.rate_limits.admit_new_opaque_token(ip).await?;
                }
                let verified = match admitted {
                    Err(failure) => Err(failure),
                    Ok(()) if detected.kind == TokenKind::Session => {
                        self.verify_session(token, recalled).await
                    }
                    Ok(()) => self.verify_machine(detected, token).await.map(Some),
                };
                (detected.kind, verified)
            }
        };
        count(&verified);
        match verified {
            Err(failure) if kind == TokenKind::Session => {
                tracing::info!(reason = failure.reason(), ?carrier, "session token refused");
            }
            Err(failure) => {
                let kind = kind.name();
                tracing::info!(
                    reason = failure.reason(),
                    kind,
                    ?carrier,
                    "machine token refused"
                );
            }
            Ok(_) => {}
        }
        Ok(verified?)
    }

    /// A WebSocket's credentials: session tokens only. A socket carries one user session for its
    /// whole life, renewed by fresh tokens of the same session (ARCHITECTURE §4); machine callers
    /// use HTTP.
    pub async fn authenticate_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<Viewer>>, AuthFailure> {
        let Some((token, carrier)) = self.tokens.extract(headers).inspect_err(count_refusal)?
        else {
            return Ok(None);
        };
        let verified = match self.recall(token).await {
            Some(Recall::Known(verified)) => verified.map(signed_in_viewer),
            recalled => {
                let detected = token_kind::detect(token);
                // The same rule as over HTTP: sessions may not be accepted at all.
                match self.admit(detected, carrier) {
                    Ok(()) if detected.kind == TokenKind::Session => {
                        self.verify_session(token, recalled).await
                    }
                    Ok(()) => Err(AuthFailure::TypeMismatch),
                    Err(failure) => Err(failure),
                }
            }
        };
        count(&verified);
        if let Err(failure) = verified {
            tracing::info!(reason = failure.reason(), ?carrier, "session token refused");
        }
        verified
    }

    /// Whether a token of this kind may be verified at all: its kind accepted, and a machine
    /// token only from `Authorization` (a cookie is a browser's, and carries sessions only).
    fn admit(&self, detected: Detected, carrier: TokenCarrier) -> Result<(), AuthFailure> {
        let from_cookie = carrier == TokenCarrier::Cookie && detected.kind != TokenKind::Session;
        if from_cookie || !self.accepted.accepts(detected.kind) {
            return Err(AuthFailure::TypeMismatch);
        }
        Ok(())
    }

    /// The verified-token cache's answer for a token that may be a session token, before its
    /// kind is read (decoding its header and claims costs more than the lookup). A token the
    /// cache knows was told a session token and admitted when it was verified, and the same
    /// bytes are told the same: the cache holds only session tokens that passed every check,
    /// whatever carried them (both carriers admit sessions). `None` when sessions are not
    /// accepted, or for an opaque machine token.
    async fn recall(&self, token: &str) -> Option<Recall> {
        let may_be_session =
            self.accepted.accepts(TokenKind::Session) && !token_kind::is_opaque(token);
        if may_be_session {
            Some(self.verifier.recall(token).await)
        } else {
            None
        }
    }

    /// A session token's verification, finishing what [`Self::recall`] began.
    async fn verify_session(
        &self,
        token: &str,
        recalled: Option<Recall>,
    ) -> Result<Option<Arc<Viewer>>, AuthFailure> {
        let verified = match recalled {
            Some(Recall::New(new)) => self.verifier.verify_new(token, new).await,
            _ => self.verifier.verify(token).await,
        };
        verified.map(signed_in_viewer)
    }

    async fn verify_machine(
        &self,
        detected: Detected,
        token: &str,
    ) -> Result<Arc<Viewer>, AuthFailure> {
        let viewer = if !detected.opaque {
            self.verifier
                .verify_machine_jwt(detected.kind, token)
                .await?
        } else {
            match &self.machine_tokens {
                Some(machine_tokens) => machine_tokens.verify(detected.kind, token).await?,
                None => return Err(AuthFailure::ClerkUnavailable),
            }
        };
        // A user's API key or an OAuth token acting for a user ends with the user (`user.deleted`),
        // cached or not, like the user's sessions (ARCHITECTURE §4).
        if self.verifier.revocations().is_revoked(&viewer) {
            return Err(AuthFailure::SessionRevoked);
        }
        Ok(viewer)
    }
}

/// The viewer of a verified session token; `None` for a pending session's, which Clerk treats
/// as signed out.
fn signed_in_viewer(verified: Verified) -> Option<Arc<Viewer>> {
    match verified {
        Verified::SignedIn(viewer) => Some(viewer),
        Verified::Pending => None,
    }
}

/// `auth_tokens_total`: one per token presented.
fn count<T>(verified: &Result<Option<T>, AuthFailure>) {
    match verified {
        Ok(Some(_)) => metrics::auth_token(TokenResult::Accepted, metrics::NO_REASON).increment(1),
        Ok(None) => metrics::auth_token(TokenResult::Pending, metrics::NO_REASON).increment(1),
        Err(failure) => count_refusal(failure),
    }
}

fn count_refusal(failure: &AuthFailure) {
    metrics::auth_token(TokenResult::Refused, failure.reason()).increment(1);
}

/// Authenticates the request, then runs the rest of the chain with its [`Authentication`]; a
/// refused token is answered here.
pub async fn authenticate(
    authenticator: &Authenticator,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip);
    match authenticator.authenticate(request.headers(), client).await {
        Ok(viewer) => {
            if let Some(viewer) = &viewer {
                tracing::Span::current().record("user_id", viewer.user_id.as_str());
            }
            request.extensions_mut().insert(Authentication(viewer));
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}
