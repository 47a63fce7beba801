//! Dev mode: local development without a Clerk account.
//!
//! In `APP_ENV=development` with no Clerk key source configured, the server signs and accepts its
//! own tokens: an RSA key pair is generated once into a git-ignored folder (`.dev/` by default)
//! and its public half becomes the verification key, under the fixed issuer [`DEV_ISSUER`]. Every
//! usual check still applies (signature, expiry, issuer, claims). Tokens are shaped like Clerk v2
//! session tokens, so resolvers cannot tell the difference. Production never gets here: the
//! configuration only names a dev-keys folder outside production and when no real key source is
//! set, and production refuses to start without one.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Map, Value, json};

use super::jwks::VerificationKey;
use super::keys::KeySource;

/// The `iss` of dev tokens. Not a URL anyone serves: nothing is ever fetched from it.
pub const DEV_ISSUER: &str = "http://localhost/clerk-graphql-dev";
const KID: &str = "clerk-graphql-dev";
const KEY_FILE: &str = "dev-signing-key.pem";

pub struct DevKeys {
    encoding: EncodingKey,
    verification: Arc<VerificationKey>,
}

impl DevKeys {
    /// Loads the key pair from `dir`, generating it on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEY_FILE);
        let pem = match fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate()?;
                write_private(dir, &path, &pem)?;
                pem
            }
            Err(error) => {
                return Err(error).with_context(|| format!("could not read {}", path.display()));
            }
        };
        let unreadable = || format!("{} is not an RSA private key in PEM form", path.display());
        let pair = KeyPair::from_pkcs8(&decode_pem(&pem).with_context(unreadable)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", unreadable()))?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).with_context(unreadable)?;
        let public = pair.public_key();
        let decoding = DecodingKey::from_rsa_raw_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        Ok(Self {
            encoding,
            verification: Arc::new(VerificationKey {
                key: decoding,
                algorithm: Some(Algorithm::RS256),
            }),
        })
    }

    pub fn key_source(&self) -> KeySource {
        KeySource::Pem(Arc::clone(&self.verification))
    }

    /// A Clerk-v2-shaped session token for `request`, issued at `now` (Unix seconds).
    pub fn mint(&self, request: &DevToken, now: i64) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.into());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &request.claims(now), &self.encoding)
            .context("could not sign the dev token")
    }
}

/// What a dev token says about its user.
#[derive(Debug, Clone)]
pub struct DevToken {
    pub user_id: String,
    /// App role, carried as `metadata.role` (the default `CLERK_ROLE_CLAIM`).
    pub role: Option<String>,
    pub org_id: Option<String>,
    /// With or without the `org:` prefix.
    pub org_role: Option<String>,
    /// Organisation permissions `org:<feature>:<permission>`, encoded as Clerk v2 does.
    pub org_permissions: Vec<String>,
    pub email: Option<String>,
    pub ttl_secs: i64,
}

impl DevToken {
    pub fn for_user(user_id: &str) -> Self {
        Self {
            user_id: user_id.into(),
            role: None,
            org_id: None,
            org_role: None,
            org_permissions: Vec::new(),
            email: None,
            ttl_secs: 3600,
        }
    }

    fn claims(&self, now: i64) -> Value {
        let mut claims = json!({
            "sub": self.user_id,
            "sid": format!("sess_dev_{}", self.user_id.trim_start_matches("user_")),
            "sts": "active",
            "iss": DEV_ISSUER,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl_secs,
            "v": 2,
            "fva": [0, -1],
        });
        let mut metadata = Map::new();
        if let Some(role) = &self.role {
            metadata.insert("role".into(), json!(role));
        }
        claims["metadata"] = Value::Object(metadata);
        if let Some(email) = &self.email {
            claims["email"] = json!(email);
        }
        if let Some(org_id) = &self.org_id {
            let role = self.org_role.as_deref().unwrap_or("member");
            let (features, permissions, masks) = encode_permissions(&self.org_permissions);
            claims["o"] = json!({
                "id": org_id,
                "slg": org_id.trim_start_matches("org_"),
                "rol": role.strip_prefix("org:").unwrap_or(role),
                "per": permissions.join(","),
                "fpm": masks.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
            });
            if !features.is_empty() {
                let fea: Vec<String> = features.iter().map(|f| format!("o:{f}")).collect();
                claims["fea"] = json!(fea.join(","));
            }
        }
        claims
    }
}

/// `org:<feature>:<permission>` names → Clerk v2's `fea` features, `per` permissions and, per
/// feature, the bit mask of its permissions (`fpm`).
fn encode_permissions(names: &[String]) -> (Vec<String>, Vec<String>, Vec<u64>) {
    let mut features: Vec<String> = Vec::new();
    let mut permissions: Vec<String> = Vec::new();
    let mut masks: Vec<u64> = Vec::new();
    for name in names {
        let Some((feature, permission)) = name
            .strip_prefix("org:")
            .and_then(|rest| rest.split_once(':'))
        else {
            continue;
        };
        let f = features
            .iter()
            .position(|x| x == feature)
            .unwrap_or_else(|| {
                features.push(feature.into());
                masks.push(0);
                features.len() - 1
            });
        let p = permissions
            .iter()
            .position(|x| x == permission)
            .unwrap_or_else(|| {
                permissions.push(permission.into());
                permissions.len() - 1
            });
        masks[f] |= 1 << p;
    }
    (features, permissions, masks)
}

/// A new RSA-2048 private key, PKCS#8 PEM.
fn generate() -> anyhow::Result<String> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|e| anyhow::anyhow!("RSA key generation failed: {e}"))?;
    let der = AsDer::<Pkcs8V1Der>::as_der(&pair)
        .map_err(|e| anyhow::anyhow!("could not encode the dev key: {e}"))?;
    let body = STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    Ok(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    ))
}

/// Writes the private key readable by its owner only, with a `.gitignore` of its own so that the
/// folder stays out of git even where the repository's ignore file is changed.
fn write_private(dir: &Path, path: &Path, pem: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    fs::write(dir.join(".gitignore"), "*\n")
        .with_context(|| format!("could not write in {}", dir.display()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(pem.as_bytes()))
        .with_context(|| format!("could not write {}", path.display()))
}

fn decode_pem(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    Ok(STANDARD.decode(body.trim())?)
}
