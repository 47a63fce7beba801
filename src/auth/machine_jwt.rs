//! Machine tokens in JWT form, signed by Clerk with the instance's keys like session tokens and
//! verified the same way, without a call to Clerk (ARCHITECTURE §4):
//!
//! - an M2M token: header `cat` M2M (or none), `sub` a machine (`mch_…`), `aud` the machines it
//!   may call, which must include this server's `CLERK_MACHINE_ID`, `scopes` space-separated;
//! - an OAuth access token (RFC 9068): header `typ` `at+jwt`, `sub` the user, `client_id` the
//!   app, scopes in `scp` (a list or a string) or `scope` (space-separated); `iss` must be the
//!   instance's, as for sessions.
//!
//! The order is the session token's: shape and header, key and signature, then the claims, so
//! that a forger learns nothing from which claim check would have failed. Such JWTs cannot be
//! revoked (Clerk's own rule): they live until `exp`.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::verified_cache::{is_expired, is_in_the_future};
use super::verifier::numeric_claim;
use super::{AuthFailure, Verifier, Viewer, jwt};
use crate::config::TokenKind;

/// Claims Clerk defines in machine JWTs; the others are the token's custom claims.
const MACHINE_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scopes",
    "scope",
    "scp",
    "client_id",
    "azp",
];

impl Verifier {
    /// The machine caller a JWT of `kind` (M2M or OAuth) authenticates.
    pub async fn verify_machine_jwt(
        &self,
        kind: TokenKind,
        token: &str,
    ) -> Result<Arc<Viewer>, AuthFailure> {
        let parsed = jwt::parse_as(token, kind)?;
        self.check_signature(&parsed).await?;
        let claims = &parsed.claims;

        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AuthFailure::Malformed),
        };
        if (kind == TokenKind::M2m) != subject.starts_with("mch_") {
            return Err(AuthFailure::TypeMismatch);
        }
        let (now, skew) = self.now_and_skew();
        let exp = numeric_claim(claims, "exp")?.ok_or(AuthFailure::Malformed)?;
        if is_expired(exp, now, skew) {
            return Err(AuthFailure::Expired);
        }
        if numeric_claim(claims, "nbf")?.is_some_and(|nbf| is_in_the_future(nbf, now, skew)) {
            return Err(AuthFailure::NotActiveYet);
        }
        if numeric_claim(claims, "iat")?.is_some_and(|iat| is_in_the_future(iat, now, skew)) {
            return Err(AuthFailure::IatInTheFuture);
        }

        let (scopes, client_id) = match kind {
            TokenKind::M2m => {
                // Without our machine id, any machine of the instance could call us: refused.
                let ours = self.rules.machine_id.as_deref();
                if !ours.is_some_and(|ours| audience_names(claims, ours)) {
                    return Err(AuthFailure::InvalidAudience);
                }
                (space_separated(claims.get("scopes")), None)
            }
            _ => {
                if let Some(issuer) = &self.rules.issuer
                    && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
                {
                    return Err(AuthFailure::InvalidIssuer);
                }
                let scopes = match claims.get("scp") {
                    Some(Value::Array(list)) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    Some(scp) => space_separated(Some(scp)),
                    None => space_separated(claims.get("scope")),
                };
                let client_id = claims
                    .get("client_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (scopes, client_id)
            }
        };
        let custom_claims = claims
            .iter()
            .filter(|(key, _)| !MACHINE_CLAIMS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(Arc::new(Viewer::machine(
            kind,
            subject.clone(),
            scopes,
            client_id,
            custom_claims,
            exp as i64,
        )))
    }
}

/// Whether `aud` (a string or a list of strings) names `audience`.
fn audience_names(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(list)) => list.iter().any(|aud| aud.as_str() == Some(audience)),
        _ => false,
    }
}

fn space_separated(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_str)
        .map(|text| text.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}
