//! Verification of a Clerk session token, in the order of DESIGN §4. The signature is checked
//! before any claim, as Clerk's SDK does, so that an attacker learns nothing about which claim
//! check would have failed on a token they could not sign (no oracle).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::clock::Clock;
use super::keys::KeySource;
use super::viewer::Viewer;
use super::{AuthFailure, jwt};
use crate::config::ClerkConfig;

/// The claim rules that do not depend on the key source.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    pub issuer: Option<String>,
    pub authorized_parties: Vec<String>,
    pub audience: Vec<String>,
    pub clock_skew: Duration,
}

impl ClaimRules {
    pub fn from_config(clerk: &ClerkConfig) -> Self {
        Self {
            issuer: clerk.issuer.clone(),
            authorized_parties: clerk.authorized_parties.clone(),
            audience: clerk.audience.clone(),
            clock_skew: clerk.clock_skew,
        }
    }
}

/// What a valid token means.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    SignedIn(Arc<Viewer>),
    /// `sts: "pending"`: a real session with an unfinished task (e.g. choose an organisation).
    /// Clerk treats it as signed out; so do we.
    Pending,
}

pub struct Verifier {
    keys: KeySource,
    rules: ClaimRules,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    pub fn new(keys: KeySource, rules: ClaimRules, clock: Arc<dyn Clock>) -> Self {
        Self { keys, rules, clock }
    }

    pub fn key_source(&self) -> &KeySource {
        &self.keys
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, AuthFailure> {
        // 1-2: shape and header.
        let parsed = jwt::parse(token)?;

        // 3: key by kid, then the signature, with the algorithm pinned by our allow-list (and
        // by the JWK when it names one).
        let key = self.keys.key_for(parsed.kid.as_deref()).await?;
        if key
            .algorithm
            .is_some_and(|pinned| pinned != parsed.algorithm)
        {
            return Err(AuthFailure::InvalidAlgorithm);
        }
        let valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key.key,
            parsed.algorithm,
        )
        .unwrap_or(false);
        if !valid {
            return Err(AuthFailure::InvalidSignature);
        }

        self.check_claims(&parsed.claims)
    }

    /// Checks 4-8 on claims whose signature is valid.
    fn check_claims(&self, claims: &Map<String, Value>) -> Result<Verified, AuthFailure> {
        // 4: subject and time.
        let user_id = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AuthFailure::Malformed),
        };
        // A machine token's subject: it is not a user session.
        if user_id.starts_with("mch_") {
            return Err(AuthFailure::TypeMismatch);
        }
        let now = self.clock.now_millis() as f64;
        let skew = self.rules.clock_skew.as_millis() as f64;
        let exp = numeric_claim(claims, "exp")?.ok_or(AuthFailure::Malformed)?;
        if exp * 1000.0 <= now - skew {
            return Err(AuthFailure::Expired);
        }
        if numeric_claim(claims, "nbf")?.is_some_and(|nbf| nbf * 1000.0 > now + skew) {
            return Err(AuthFailure::NotActiveYet);
        }
        if numeric_claim(claims, "iat")?.is_some_and(|iat| iat * 1000.0 > now + skew) {
            return Err(AuthFailure::IatInTheFuture);
        }

        // 5: exact issuer. Clerk's JS SDK relies on per-instance key sets instead; checking it is
        // cheap and stops a token of another instance that shares a key source.
        if let Some(issuer) = &self.rules.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(AuthFailure::InvalidIssuer);
        }

        // 6: authorized party, required when parties are configured (a token minted for
        // another origin must not be replayed here).
        if !self.rules.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Value::as_str);
            if !azp.is_some_and(|azp| self.rules.authorized_parties.iter().any(|p| p == azp)) {
                return Err(AuthFailure::InvalidAuthorizedParty);
            }
        }

        // 7: audience, only when one is configured; then the token must name it.
        if !self.rules.audience.is_empty() {
            let accepted = |aud: &str| self.rules.audience.iter().any(|a| a == aud);
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !ok {
                return Err(AuthFailure::InvalidAudience);
            }
        }

        // 8: a pending session is signed out.
        if claims.get("sts").and_then(Value::as_str) == Some("pending") {
            return Ok(Verified::Pending);
        }

        Ok(Verified::SignedIn(Arc::new(Viewer::from_verified_claims(
            user_id.clone(),
            exp as i64,
            claims,
        ))))
    }
}

/// A NumericDate claim: absent is `None`, present but not a number is malformed.
fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthFailure> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(AuthFailure::Malformed),
    }
}
