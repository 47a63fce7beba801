use super::values::normalise_pem;
use super::*;
use std::collections::HashMap;
use std::time::Duration;

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn empty_environment_is_a_working_development_setup() {
    let config = parse(&[]).unwrap();
    assert_eq!(config.app_env, AppEnv::Development);
    assert_eq!(config.port, 8080);
    assert_eq!(config.database_url, "sqlite://clerk-graphql.db?mode=rwc");
    assert!(config.graphql_playground && config.graphql_introspection);
    assert_eq!(config.clerk.key_source(), KeySourceKind::None);
    assert_eq!(config.clerk.clock_skew, Duration::from_secs(5));
}

#[test]
fn publishable_key_gives_the_issuer_and_frontend_jwks() {
    let config = parse(&[(
        "CLERK_PUBLISHABLE_KEY",
        "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk",
    )])
    .unwrap();
    assert_eq!(
        config.clerk.issuer.as_deref(),
        Some("https://foo-bar-13.clerk.accounts.dev")
    );
    assert_eq!(
        config.clerk.key_source(),
        KeySourceKind::Jwks {
            url: "https://foo-bar-13.clerk.accounts.dev/.well-known/jwks.json".into(),
            authenticated: false
        }
    );
    // Padded form decodes too.
    assert_eq!(
        frontend_api_from_publishable_key("pk_test_Y2xlcmsuY2xlcmsuZGV2JA==").unwrap(),
        "clerk.clerk.dev"
    );
}

#[test]
fn a_bad_publishable_key_says_where_to_copy_it_from() {
    for (key, problem) in [
        (
            "pk_test_garbage",
            "the part after `pk_test_`/`pk_live_` is not base64",
        ),
        (
            "garbage",
            "expected a key starting with `pk_test_` or `pk_live_`",
        ),
        (
            "pk_test_bm90LWEtaG9zdA", // "not-a-host"
            "does not decode to `<frontend-api-host>$`",
        ),
    ] {
        let err = parse(&[("CLERK_PUBLISHABLE_KEY", key)])
            .unwrap_err()
            .to_string();
        let expected = format!(
            "CLERK_PUBLISHABLE_KEY: {problem}: copy it again from the Clerk dashboard (API keys)"
        );
        assert!(err.contains(&expected), "{key}: {err}");
    }
}

#[test]
fn each_bad_value_is_reported_with_its_variable() {
    let err = parse(&[
        ("CLERK_PUBLISHABLE_KEY", "pk_test_bm90LWEtaG9zdA"),
        ("CLERK_CLOCK_SKEW_SECS", "five"),
        ("CLERK_JWT_KEY", "not a pem"),
        ("PORT", "http"),
        ("CLERK_SECRET_KEY", "pk_oops"),
    ])
    .unwrap_err();
    let text = err.to_string();
    for variable in [
        "CLERK_PUBLISHABLE_KEY:",
        "CLERK_CLOCK_SKEW_SECS:",
        "CLERK_JWT_KEY:",
        "PORT:",
        "CLERK_SECRET_KEY:",
    ] {
        assert!(text.contains(variable), "{variable} missing from {text}");
    }
}

#[test]
fn production_without_a_key_source_refuses_naming_the_variables() {
    let err = parse(&[("APP_ENV", "production")]).unwrap_err().to_string();
    assert!(err.contains("CLERK_JWT_KEY") && err.contains("CLERK_SECRET_KEY"));
    let config = parse(&[
        ("APP_ENV", "production"),
        ("CLERK_SECRET_KEY", "sk_test_x"),
        ("CLERK_ISSUER", "https://clerk.example.com"),
    ])
    .unwrap();
    assert!(!config.graphql_playground && !config.graphql_introspection);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn a_key_source_without_an_issuer_is_refused() {
    let err = parse(&[("CLERK_SECRET_KEY", "sk_test_x")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("CLERK_ISSUER"), "{err}");
}

#[test]
fn graphql_limits_have_defaults_overrides_and_actionable_errors() {
    assert_eq!(parse(&[]).unwrap().graphql_limits, GraphqlLimits::default());
    let config = parse(&[
        ("GRAPHQL_MAX_DEPTH", "8"),
        ("GRAPHQL_MAX_COMPLEXITY", "250"),
        ("GRAPHQL_MAX_ALIASES", "0"),
        ("GRAPHQL_MAX_BODY_BYTES", "65536"),
        ("GRAPHQL_TIMEOUT_SECS", "3"),
    ])
    .unwrap();
    let limits = config.graphql_limits;
    assert_eq!(
        (limits.max_depth, limits.max_complexity, limits.max_aliases),
        (8, 250, 0)
    );
    assert_eq!(limits.max_body_bytes, 65536);
    assert_eq!(limits.timeout, Duration::from_secs(3));

    let err = parse(&[
        ("GRAPHQL_MAX_DEPTH", "deep"),
        ("GRAPHQL_MAX_COMPLEXITY", "0"),
        ("GRAPHQL_MAX_RECURSIVE_DEPTH", "1000"),
        ("GRAPHQL_MAX_ROOT_FIELDS", "-1"),
        ("GRAPHQL_MAX_BODY_BYTES", "10"),
        ("GRAPHQL_TIMEOUT_SECS", "0"),
    ])
    .unwrap_err()
    .to_string();
    for variable in [
        "GRAPHQL_MAX_DEPTH: expected a whole number",
        "GRAPHQL_MAX_COMPLEXITY: expected 1 to",
        "GRAPHQL_MAX_RECURSIVE_DEPTH: expected 2 to 64",
        "GRAPHQL_MAX_ROOT_FIELDS:",
        "GRAPHQL_MAX_BODY_BYTES: expected 1024 to",
        "GRAPHQL_TIMEOUT_SECS: expected 1 to 300",
    ] {
        assert!(err.contains(variable), "{variable} missing from {err}");
    }
    let err = parse(&[("GRAPHQL_MAX_DEPTH", "40")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GRAPHQL_MAX_RECURSIVE_DEPTH"), "{err}");
}

#[test]
fn token_and_variable_limits_have_defaults_overrides_and_actionable_errors() {
    let defaults = parse(&[]).unwrap().graphql_limits;
    assert_eq!(
        (defaults.max_tokens, defaults.max_variable_values),
        (1000, 10_000)
    );
    let limits = parse(&[
        ("GRAPHQL_MAX_TOKENS", "5000"),
        ("GRAPHQL_MAX_VARIABLE_VALUES", "20"),
    ])
    .unwrap()
    .graphql_limits;
    assert_eq!((limits.max_tokens, limits.max_variable_values), (5000, 20));
    let err = parse(&[
        ("GRAPHQL_MAX_TOKENS", "99"),
        ("GRAPHQL_MAX_VARIABLE_VALUES", "0"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("GRAPHQL_MAX_TOKENS: expected 100 to"), "{err}");
    assert!(err.contains("introspection query needs 181"), "{err}");
    assert!(
        err.contains("GRAPHQL_MAX_VARIABLE_VALUES: expected 1 to"),
        "{err}"
    );
}

#[test]
fn webhook_retention_has_a_default_an_override_and_a_floor() {
    let defaults = parse(&[]).unwrap().webhook_retention;
    assert_eq!(defaults, RetentionSettings::default());
    assert_eq!(defaults.keep, Duration::from_secs(7 * 86_400));
    let config = parse(&[("WEBHOOK_EVENTS_RETENTION_DAYS", "30")]).unwrap();
    assert_eq!(
        config.webhook_retention.keep,
        Duration::from_secs(30 * 86_400)
    );
    for bad in ["1", "0", "-3", "a week", "3651"] {
        let err = parse(&[("WEBHOOK_EVENTS_RETENTION_DAYS", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WEBHOOK_EVENTS_RETENTION_DAYS: expected a number of days from 2"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn rate_limits_have_defaults_overrides_and_actionable_errors() {
    let defaults = parse(&[]).unwrap().rate_limits;
    assert_eq!(defaults, RateLimitConfig::default());
    assert!(defaults.enabled && defaults.trusted_proxies.is_empty());
    assert_eq!(
        (
            defaults.ip_per_minute,
            defaults.user_per_minute,
            defaults.webhook_per_minute,
            defaults.auth_failures_per_minute
        ),
        (1200, 300, 600, 20)
    );
    assert_eq!(
        (defaults.lockout.as_secs(), defaults.lockout_max.as_secs()),
        (60, 900)
    );

    let config = parse(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("RATE_LIMIT_IP_PER_MINUTE", "5"),
        ("RATE_LIMIT_USER_PER_MINUTE", "0"),
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "7"),
        ("AUTH_FAILURES_PER_MINUTE", "3"),
        ("AUTH_LOCKOUT_SECS", "10"),
        ("AUTH_LOCKOUT_MAX_SECS", "10"),
        ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 ,fd00::/8"),
    ])
    .unwrap();
    let limits = config.rate_limits;
    assert!(!limits.enabled);
    assert_eq!(
        (
            limits.ip_per_minute,
            limits.user_per_minute,
            limits.webhook_per_minute,
            limits.auth_failures_per_minute
        ),
        (5, 0, 7, 3)
    );
    assert_eq!(limits.lockout, Duration::from_secs(10));
    assert_eq!(
        limits.trusted_proxies.to_string(),
        "127.0.0.1, 10.0.0.0/8, fd00::/8"
    );

    let err = parse(&[
        ("RATE_LIMIT_ENABLED", "sometimes"),
        ("RATE_LIMIT_IP_PER_MINUTE", "lots"),
        ("RATE_LIMIT_USER_PER_MINUTE", "-1"),
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "2000000000"),
        ("AUTH_FAILURES_PER_MINUTE", "1e3"),
        ("AUTH_LOCKOUT_SECS", "0"),
        ("TRUSTED_PROXIES", "10.0.0.1/8, proxy.internal"),
    ])
    .unwrap_err()
    .to_string();
    for expected in [
        "RATE_LIMIT_ENABLED: expected true or false",
        "RATE_LIMIT_IP_PER_MINUTE: expected a number of requests per minute from 0 (no limit)",
        "RATE_LIMIT_USER_PER_MINUTE: expected",
        "WEBHOOK_RATE_LIMIT_PER_MINUTE: expected",
        "AUTH_FAILURES_PER_MINUTE: expected a number of invalid tokens per minute",
        "AUTH_LOCKOUT_SECS: expected a number of seconds from 1 to 86400",
        "TRUSTED_PROXIES: `10.0.0.1/8` has bits set after the /8 prefix; did you mean `10.0.0.0/8`?",
        "`proxy.internal` is not an IP address",
    ] {
        assert!(err.contains(expected), "{expected} missing from {err}");
    }
    let err = parse(&[
        ("AUTH_LOCKOUT_SECS", "600"),
        ("AUTH_LOCKOUT_MAX_SECS", "300"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("AUTH_LOCKOUT_MAX_SECS: 300 is below AUTH_LOCKOUT_SECS (600)"),
        "{err}"
    );
    let err = parse(&[("TRUSTED_PROXIES", "0.0.0.0/0")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("trusts every address"), "{err}");
}

#[test]
fn secrets_are_redacted_in_debug() {
    let config = parse(&[
        ("CLERK_SECRET_KEY", "sk_test_supersecretvalue"),
        ("CLERK_ISSUER", "https://clerk.example.com"),
        (
            "CLERK_WEBHOOK_SIGNING_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("supersecretvalue"));
    assert!(!debug.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}

#[test]
fn pem_with_or_without_armour_and_escaped_newlines() {
    let body = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu0tNUitBZmcGYMWcqvaRBaJe0XmTQ738RHYoHjhYANyeOkysuu4L/Rqr+fmTXsbebrTp7/OewIqsJXImEWB/WQ3HN9lAkOMCCGDU1udsz/sl1Kwy5JZ7x8Nr4ghXJagQzEF0Ovsj7/TPsBJGkVJ+OiZsTXCe7EAmG5gNGGPBE5Gu14Rwb+eZ5r9RCAaPfhxR1yHYTAvCrku/6i2os7RLpT6UockKtX4QQSH2CMveNwqd6LdwhV8USZrczB2VYkAImngJC745+EWek1sVExYkqheGvC3J8O7D9H4JtaKD2zaq0rJzsIU0zb/wwax5+La+uRuPYvTXlO8B8IK4jjNMCQIDAQAB";
    let bare = normalise_pem(body).unwrap();
    let armoured = normalise_pem(&format!(
        "-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----"
    ))
    .unwrap();
    assert_eq!(bare, armoured);
}

#[test]
fn rules_spanning_variables_still_run_when_one_of_them_is_bad() {
    let err = parse(&[
        ("APP_ENV", "production"),
        ("PORT", "http"),
        ("GRAPHQL_MAX_DEPTH", "40"),
        ("GRAPHQL_MAX_COMPLEXITY", "lots"),
    ])
    .unwrap_err();
    assert_eq!(err.0.len(), 4, "{err}");
    assert!(
        err.0[0].starts_with("PORT: expected a port number"),
        "{err}"
    );
    assert!(
        err.0[1].starts_with(
            "GRAPHQL_MAX_COMPLEXITY: expected a whole number from 1 to 1000000, e.g. 1000"
        ),
        "{err}"
    );
    assert!(
        err.0[2].starts_with("APP_ENV=production needs a token key source"),
        "{err}"
    );
    assert!(
        err.0[3].starts_with("GRAPHQL_MAX_DEPTH: 40 is above GRAPHQL_MAX_RECURSIVE_DEPTH (32)"),
        "{err}"
    );
}

#[test]
fn a_bad_secret_is_named_but_never_echoed() {
    let err = parse(&[
        ("CLERK_SECRET_KEY", "pk_supersecretvalue"),
        ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_!!supersecretvalue"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("CLERK_SECRET_KEY: expected a Clerk secret key"),
        "{err}"
    );
    assert!(
        err.contains("CLERK_WEBHOOK_SIGNING_SECRET: the part after `whsec_` is not base64"),
        "{err}"
    );
    assert!(!err.contains("supersecretvalue"), "{err}");
}

#[test]
fn the_webhook_secret_is_also_read_under_its_old_name() {
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let old = "whsec_dGhlIG9sZCBvbmU=";
    let secrets = |vars: &[(&str, &str)]| parse(vars).unwrap().clerk.webhook_signing_secrets;
    assert_eq!(
        secrets(&[("CLERK_WEBHOOK_SECRET", old)]),
        vec![Secret::new(old)]
    );
    assert_eq!(
        secrets(&[
            ("CLERK_WEBHOOK_SECRET", old),
            ("CLERK_WEBHOOK_SIGNING_SECRET", new)
        ]),
        vec![Secret::new(new)]
    );
    let err = parse(&[("CLERK_WEBHOOK_SECRET", "nope")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CLERK_WEBHOOK_SECRET: each secret must start with `whsec_`"),
        "{err}"
    );
}

#[test]
fn connections_per_address_default_to_a_quarter_of_the_total() {
    let http = |vars: &[(&str, &str)]| parse(vars).unwrap().http_limits;
    let limits = http(&[("HTTP_MAX_CONNECTIONS", "400")]);
    assert_eq!(
        (limits.max_connections, limits.max_connections_per_ip),
        (400, 100)
    );
    assert_eq!(
        http(&[("HTTP_MAX_CONNECTIONS", "4000")]).max_connections_per_ip,
        512
    );
    let limits = http(&[
        ("HTTP_MAX_CONNECTIONS_PER_IP", "7"),
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "3"),
    ]);
    assert_eq!(limits.max_connections_per_ip, 7);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(3));
    let defaults = http(&[]);
    assert!(
        (64..=10_000).contains(&defaults.max_connections),
        "{defaults:?}"
    );
    assert_eq!(
        defaults.max_connections_per_ip,
        (defaults.max_connections / 4).min(512)
    );
    let err = parse(&[("HTTP_MAX_CONNECTIONS_PER_IP", "0")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP_MAX_CONNECTIONS_PER_IP: expected 1 to 1000000"),
        "{err}"
    );
}

#[test]
fn declared_defaults_agree_with_the_constants_code_uses() {
    let config = parse(&[]).unwrap();
    assert_eq!(config.clerk.max_token_lifetime, DEFAULT_MAX_TOKEN_LIFETIME);
    assert_eq!(config.cors_allowed_headers.join(","), DEFAULT_CORS_HEADERS);
    assert_eq!(config.websocket_limits, WebSocketLimits::default());
    assert_eq!(
        (
            config.websocket_limits.max_subscriptions,
            config.websocket_limits.max_connections
        ),
        (100, 10_000)
    );
}

#[test]
fn help_describes_exactly_the_variables_of_env_example() {
    let names = |text: &str, pattern: fn(&str) -> Option<&str>| {
        let mut names: Vec<String> = text.lines().filter_map(pattern).map(String::from).collect();
        names.sort();
        names
    };
    // `.env.example` has `NAME=value` or `# NAME=value`; the help has `  NAME[=default]`.
    let example = names(include_str!("../../.env.example"), |line| {
        let name = line.trim_start_matches(['#', ' ']).split_once('=')?.0;
        name.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            .then_some(name)
    });
    let help = Config::variables_help();
    let described = names(&help, |line| {
        let entry = line.strip_prefix("  ")?;
        (!entry.starts_with(' ')).then(|| entry.split('=').next().unwrap_or(entry))
    });
    assert!(example.len() > 40, "{example:?}");
    assert_eq!(example, described, "{help}");
}

#[test]
fn trusted_documents_default_by_environment_and_refuse_enforce_without_a_manifest() {
    let trusted = |vars: &[(&str, &str)]| parse(vars).unwrap().trusted_documents;
    let production = [
        ("APP_ENV", "production"),
        ("CLERK_SECRET_KEY", "sk_test_x"),
        ("CLERK_ISSUER", "https://clerk.example.com"),
    ];
    let manifest = (
        "GRAPHQL_TRUSTED_DOCUMENTS",
        "clients/persisted-documents.json",
    );
    assert_eq!(
        trusted(&[]),
        TrustedDocumentsConfig {
            manifest: None,
            mode: TrustedDocumentsMode::Off
        }
    );
    assert_eq!(trusted(&production).mode, TrustedDocumentsMode::Off);
    assert_eq!(trusted(&[manifest]).mode, TrustedDocumentsMode::Log);
    let with_manifest = trusted(&[production.as_slice(), &[manifest]].concat());
    assert_eq!(with_manifest.mode, TrustedDocumentsMode::Enforce);
    assert_eq!(
        with_manifest.manifest.as_deref(),
        Some(std::path::Path::new("clients/persisted-documents.json"))
    );
    let off = trusted(&[manifest, ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "OFF")]);
    assert_eq!(off.mode, TrustedDocumentsMode::Off);
    assert_eq!(
        trusted(&[("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "log")]).mode,
        TrustedDocumentsMode::Log
    );

    let err = parse(&[("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "enforce")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GRAPHQL_TRUSTED_DOCUMENTS_MODE: `enforce` needs")
            && err.contains("set GRAPHQL_TRUSTED_DOCUMENTS"),
        "{err}"
    );
    let err = parse(&[manifest, ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "strict")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GRAPHQL_TRUSTED_DOCUMENTS_MODE: expected `off`, `log` or `enforce`"),
        "{err}"
    );
}

#[test]
fn accepted_tokens_default_to_sessions_and_api_keys_need_the_secret_key() {
    let config = parse(&[]).unwrap();
    assert!(config.clerk.accepted_tokens.accepts(TokenKind::Session));
    assert!(!config.clerk.accepted_tokens.accepts(TokenKind::ApiKey));
    let err = parse(&[("CLERK_ACCEPTED_TOKENS", "session_token,api_key")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CLERK_ACCEPTED_TOKENS") && err.contains("CLERK_SECRET_KEY"),
        "{err}"
    );
    let err = parse(&[("CLERK_ACCEPTED_TOKENS", "sessions")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CLERK_ACCEPTED_TOKENS") && err.contains("`sessions`"),
        "{err}"
    );
    let err = parse(&[("CLERK_MACHINE_ID", "user_1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("CLERK_MACHINE_ID"), "{err}");
    let config = parse(&[
        ("CLERK_ACCEPTED_TOKENS", "any"),
        ("CLERK_SECRET_KEY", "sk_test_x"),
        ("CLERK_ISSUER", "https://x.clerk.accounts.dev"),
        ("CLERK_MACHINE_ID", "mch_abc123"),
    ])
    .unwrap();
    assert!(config.clerk.accepted_tokens.accepts(TokenKind::OAuth));
    assert_eq!(config.clerk.machine_id.as_deref(), Some("mch_abc123"));
}

#[test]
fn metrics_listen_apart_from_the_public_port_or_not_at_all() {
    let metrics = |vars: &[(&str, &str)]| parse(vars).map(|config| config.metrics_addr.0);
    let local = "127.0.0.1:9464".parse().ok();
    assert_eq!(metrics(&[]).unwrap(), local);
    assert_eq!(metrics(&[("METRICS_ADDR", "off")]).unwrap(), None);
    assert_eq!(metrics(&[("METRICS_ADDR", "OFF")]).unwrap(), None);
    assert_eq!(
        metrics(&[("METRICS_ADDR", "[::1]:9100")]).unwrap(),
        "[::1]:9100".parse().ok()
    );
    for bad in ["9464", "localhost:9464", "127.0.0.1", "on"] {
        let error = metrics(&[("METRICS_ADDR", bad)]).unwrap_err().to_string();
        assert!(error.contains("METRICS_ADDR:"), "{bad}: {error}");
    }
    // The public listener's address, spelt out or through 0.0.0.0 on either side.
    for (host, address) in [
        ("127.0.0.1", "127.0.0.1:8080"),
        ("0.0.0.0", "127.0.0.1:8080"),
        ("127.0.0.1", "0.0.0.0:8080"),
    ] {
        let error = metrics(&[("HOST", host), ("METRICS_ADDR", address)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("METRICS_ADDR: ") && error.contains("public listener"),
            "{error}"
        );
    }
    // Another port, another address, or a public port picked at start-up: no conflict.
    assert!(metrics(&[("METRICS_ADDR", "127.0.0.1:8081")]).is_ok());
    assert!(metrics(&[("HOST", "10.0.0.1"), ("METRICS_ADDR", "127.0.0.1:8080")]).is_ok());
    assert!(metrics(&[("PORT", "0"), ("METRICS_ADDR", "127.0.0.1:0")]).is_ok());
}

#[test]
fn opentelemetry_variables_are_checked_where_the_sdk_would_ignore_them() {
    let config = parse(&[]).unwrap();
    assert!(!config.traces.exporting());
    let config = parse(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]).unwrap();
    assert!(config.traces.exporting());
    assert_eq!(
        config.traces.endpoint.as_deref(),
        Some("http://127.0.0.1:4318")
    );
    let error = parse(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_SAMPLER", "ratio"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
    ])
    .unwrap_err()
    .to_string();
    for variable in [
        "OTEL_EXPORTER_OTLP_ENDPOINT:",
        "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not built in",
        "OTEL_TRACES_SAMPLER:",
        "OTEL_EXPORTER_OTLP_HEADERS:",
    ] {
        assert!(error.contains(variable), "{variable} in {error}");
    }
    assert!(
        !error.contains("api-key"),
        "a header value is a secret: {error}"
    );
    let error = parse(&[("OTEL_TRACES_SAMPLER_ARG", "0.1")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("OTEL_TRACES_SAMPLER_ARG: only the"),
        "{error}"
    );
    let config = parse(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ("GRAPHQL_TRACE_DOCUMENT", "true"),
    ])
    .unwrap();
    assert_eq!(config.traces.sampler_arg, Some(0.1));
    assert!(config.traces.graphql_document);
    let error = parse(&[
        ("APP_ENV", "production"),
        ("CLERK_SECRET_KEY", "sk_test_x"),
        ("CLERK_ISSUER", "https://clerk.example.com"),
        ("GRAPHQL_TRACE_DOCUMENT", "true"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("GRAPHQL_TRACE_DOCUMENT: documents are never exported"),
        "{error}"
    );
}
