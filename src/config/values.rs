//! Parsers of one variable's value, used as clap value parsers. An error says what is expected;
//! `environment` puts the variable's name in front of it.

use std::ffi::OsStr;
use std::fmt::Display;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::builder::TypedValueParser;
use jsonwebtoken::DecodingKey;

use super::{AppEnv, LogFormat, Secret, TrustedDocumentsMode};

/// A whole number from `min` to `max`. The error names the range, what it counts (`of`), what 0
/// means where 0 turns something off, why it is bounded, and the default as an example.
#[derive(Debug, Clone, Copy)]
pub struct Whole<T> {
    min: T,
    max: T,
    of: Option<&'static str>,
    zero_means: Option<&'static str>,
    why: &'static str,
}

impl<T: FromStr + PartialOrd + Display + Copy> Whole<T> {
    pub const fn new(min: T, max: T) -> Self {
        Self {
            min,
            max,
            of: None,
            zero_means: None,
            why: "",
        }
    }

    pub const fn of(self, of: &'static str) -> Self {
        Self {
            of: Some(of),
            ..self
        }
    }

    pub const fn zero_means(self, meaning: &'static str) -> Self {
        Self {
            zero_means: Some(meaning),
            ..self
        }
    }

    pub const fn why(self, why: &'static str) -> Self {
        Self { why, ..self }
    }

    fn check(&self, value: &str, example: &str) -> Result<T, String> {
        let number = value.parse::<T>().ok();
        if let Some(n) = number.filter(|n| (self.min..=self.max).contains(n)) {
            return Ok(n);
        }
        let (min, max, why) = (self.min, self.max, self.why);
        let min = match self.zero_means {
            Some(meaning) => format!("{min} ({meaning})"),
            None => min.to_string(),
        };
        Err(match (self.of, number) {
            (Some(of), _) => format!("expected a number of {of} from {min} to {max}{why}{example}"),
            (None, Some(_)) => format!("expected {min} to {max}{why}{example}"),
            (None, None) => format!("expected a whole number from {min} to {max}{why}{example}"),
        })
    }
}

impl<T> TypedValueParser for Whole<T>
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let example = arg
            .and_then(|arg| arg.get_default_values().first())
            .map(|default| format!(", e.g. {}", default.to_string_lossy()))
            .unwrap_or_default();
        let whole = *self;
        // A closure is clap's own string parser: it wraps our message as the error's source.
        (move |v: &str| whole.check(v, &example)).parse_ref(command, arg, value)
    }
}

pub fn app_env(v: &str) -> Result<AppEnv, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "development" | "dev" => Ok(AppEnv::Development),
        "production" | "prod" => Ok(AppEnv::Production),
        _ => Err("expected `development` or `production`"),
    }
}

pub fn log_format(v: &str) -> Result<LogFormat, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected `pretty` or `json`"),
    }
}

pub fn boolean(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false"),
    }
}

pub fn ip_address(v: &str) -> Result<std::net::IpAddr, &'static str> {
    v.parse()
        .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0")
}

pub fn port(v: &str) -> Result<u16, &'static str> {
    v.parse()
        .map_err(|_| "expected a port number from 0 to 65535")
}

pub fn metrics_addr(v: &str) -> Result<super::MetricsAddr, &'static str> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(super::MetricsAddr(None));
    }
    v.parse()
        .map(|address| super::MetricsAddr(Some(address)))
        .map_err(|_| "expected an address and port such as 127.0.0.1:9464, or `off`")
}

pub fn database_url(v: &str) -> Result<String, &'static str> {
    if ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| v.starts_with(scheme))
    {
        Ok(v.to_string())
    } else {
        Err("expected a `sqlite:` or `postgres://` URL")
    }
}

pub fn http_url(v: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// A comma-separated list; blank entries are dropped.
pub fn list(v: &str) -> Result<Vec<String>, String> {
    Ok(split_list(v, ','))
}

/// A Clerk machine id, `mch_` and letters or digits.
pub fn machine_id(v: &str) -> Result<String, String> {
    let rest = v.strip_prefix("mch_").unwrap_or_default();
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("expected a machine id such as mch_2abc… (Dashboard → Machines)".into());
    }
    Ok(v.to_string())
}

/// A comma-separated list of origins (`scheme://host[:port]`, no path, no trailing slash): what
/// browsers send in `Origin` and Clerk puts in `azp`.
pub fn origins(v: &str) -> Result<Vec<String>, String> {
    let origins = split_list(v, ',');
    let is_origin = |v: &str| {
        reqwest::Url::parse(v).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && !v.ends_with('/')
        })
    };
    match origins.iter().find(|o| !is_origin(o)) {
        Some(bad) => Err(format!(
            "`{bad}` is not an origin such as https://app.example.com (scheme://host[:port], no path)"
        )),
        None => Ok(origins),
    }
}

/// What browsers' GraphQL clients send besides the body: credentials and content type, tracing
/// (W3C, Sentry), Apollo's client identification, and our request id.
pub const DEFAULT_CORS_HEADERS: &str = "authorization,content-type,accept,x-request-id,\
    traceparent,tracestate,baggage,sentry-trace,apollographql-client-name,\
    apollographql-client-version,apollo-require-preflight,x-apollo-operation-name";

/// A comma-separated list of header names, lower-cased.
pub fn header_names(v: &str) -> Result<Vec<String>, String> {
    let headers: Vec<String> = split_list(v, ',')
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    match headers
        .iter()
        .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
    {
        Some(bad) => Err(format!("`{bad}` is not a header name")),
        None => Ok(headers),
    }
}

pub fn trusted_proxies(v: &str) -> Result<crate::net::TrustedProxies, String> {
    crate::net::TrustedProxies::parse(v).map_err(|why| {
        format!("{why} (expected comma-separated addresses or CIDR ranges of your proxies)")
    })
}

pub fn secret_key(v: &str) -> Result<Secret, &'static str> {
    if v.starts_with("sk_") {
        Ok(Secret::new(v))
    } else {
        Err("expected a Clerk secret key starting with `sk_` (Dashboard → API keys)")
    }
}

pub fn trusted_documents_mode(v: &str) -> Result<TrustedDocumentsMode, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "off" => Ok(TrustedDocumentsMode::Off),
        "log" => Ok(TrustedDocumentsMode::Log),
        "enforce" => Ok(TrustedDocumentsMode::Enforce),
        _ => Err("expected `off`, `log` or `enforce`"),
    }
}

pub fn redis_url(v: &str) -> Result<Secret, &'static str> {
    match v.parse::<redis::ConnectionInfo>() {
        Ok(_) => Ok(Secret::new(v)),
        Err(_) => Err("expected a `redis://`, `rediss://` or `unix://` URL"),
    }
}

pub fn publishable_key(v: &str) -> Result<String, String> {
    super::frontend_api_from_publishable_key(v).map(|_| v.to_string())
}

pub fn dot_path(v: &str) -> Result<String, &'static str> {
    if v.split('.').any(str::is_empty) {
        Err("expected a dot path such as `metadata.role`")
    } else {
        Ok(v.to_string())
    }
}

/// Space-separated `whsec_…` secrets (several during a rotation).
pub fn webhook_secrets(v: &str) -> Result<Vec<Secret>, String> {
    split_list(v, ' ')
        .into_iter()
        .map(|secret| {
            let encoded = secret.strip_prefix("whsec_").ok_or(
                "each secret must start with `whsec_` (Dashboard → Webhooks → Signing Secret)",
            )?;
            STANDARD
                .decode(encoded)
                .map_err(|_| "the part after `whsec_` is not base64")?;
            Ok(Secret::new(secret))
        })
        .collect()
}

/// Accepts a PEM public key with or without its BEGIN/END lines, with real or `\n`-escaped
/// newlines (the usual shape in `.env` files), and checks it parses as an RSA public key.
pub fn normalise_pem(v: &str) -> Result<String, String> {
    let v = v.replace("\\n", "\n");
    let body: String = v
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(&body)
        .map_err(|_| "not a PEM public key: the body is not base64")?;
    if der.is_empty() {
        return Err("empty key".into());
    }
    let wrapped: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        wrapped.join("\n")
    );
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not an RSA public key in PEM (SPKI) form ({e})"))?;
    Ok(pem)
}

fn split_list(v: &str, separator: char) -> Vec<String> {
    v.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
