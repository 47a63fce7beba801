//! Where verification keys come from (ARCHITECTURE §4): the networkless PEM of `CLERK_JWT_KEY`,
//! else a JWKS (explicit URL, the Backend API with the secret key, or the Frontend API).

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use super::AuthFailure;
use super::jwks::{JwksCache, VerificationKey};
use crate::config::{ClerkConfig, KeySourceKind};

#[derive(Clone)]
pub enum KeySource {
    /// One fixed key. Like Clerk's SDK, the token's `kid` is not compared with it: the PEM is
    /// the instance's only signing key.
    Pem(Arc<VerificationKey>),
    Jwks(Arc<JwksCache>),
    None,
}

impl KeySource {
    pub fn from_config(clerk: &ClerkConfig) -> Self {
        match clerk.key_source() {
            KeySourceKind::Pem => {
                let pem = clerk
                    .jwt_key_pem
                    .as_deref()
                    .expect("Pem kind implies a PEM");
                let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                    .expect("CLERK_JWT_KEY was validated when the configuration was read");
                Self::Pem(Arc::new(VerificationKey {
                    key,
                    algorithm: None,
                }))
            }
            KeySourceKind::Jwks { url, authenticated } => {
                let bearer = authenticated.then(|| clerk.secret_key.clone()).flatten();
                Self::Jwks(JwksCache::new(url, bearer, clerk.jwks.clone()))
            }
            KeySourceKind::None => Self::None,
        }
    }

    /// A description for the start-up log (never containing a secret).
    pub fn describe(&self) -> String {
        match self {
            Self::Pem(_) => "CLERK_JWT_KEY (networkless PEM public key)".into(),
            Self::Jwks(cache) => format!("JWKS at {}", cache.url()),
            Self::None => "none configured: every presented token is refused (jwks_unavailable); anonymous requests work".into(),
        }
    }

    /// Identifies the keys verification uses now; it changes when the JWKS serves a different
    /// key set (a PEM never changes). See [`JwksCache::key_set_generation`].
    pub fn key_set_generation(&self) -> u64 {
        match self {
            Self::Jwks(cache) => cache.key_set_generation(),
            Self::Pem(_) | Self::None => 0,
        }
    }

    /// [`Self::key_set_generation`], for a token answered from the verified-token cache: also does the
    /// upkeep a key lookup would (a background refresh of a JWKS older than its TTL).
    pub fn key_set_generation_with_upkeep(&self) -> u64 {
        match self {
            Self::Jwks(cache) => cache.key_set_generation_with_upkeep(),
            Self::Pem(_) | Self::None => 0,
        }
    }

    pub async fn key_for(&self, kid: Option<&str>) -> Result<Arc<VerificationKey>, AuthFailure> {
        match self {
            Self::Pem(key) => Ok(Arc::clone(key)),
            Self::Jwks(cache) => cache.key_for(kid.ok_or(AuthFailure::KidMismatch)?).await,
            Self::None => Err(AuthFailure::NoKeySource),
        }
    }
}
