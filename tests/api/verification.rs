//! Every check of ARCHITECTURE §4 over HTTP, each with the reason it must produce. Time checks run
//! against a fixed clock so that boundaries are exact.

use reqwest::StatusCode;
use serde_json::{Value, json};

use clerk_graphql::auth::clock::FixedClock;

use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};
use crate::tokens::{ISSUER, TestKey, session_claims, signing_input, with};

const T: i64 = 1_800_000_000;

/// An app whose clock stands still at `T`, with the given skew.
async fn app_at_t(skew_secs: u32) -> TestApp {
    spawn_app_with(
        AppOptions {
            clock: Some(FixedClock::at_unix_seconds(T)),
            ..AppOptions::default()
        }
        .var("CLERK_CLOCK_SKEW_SECS", skew_secs.to_string()),
    )
    .await
}

/// Valid claims for the fixed instant `T`.
fn claims_at_t() -> Value {
    with(
        session_claims("user_t"),
        json!({"iat": T, "nbf": T - 10, "exp": T + 60}),
    )
}

fn sign(claims: &Value) -> String {
    TestKey::primary().sign(claims)
}

#[tokio::test]
async fn valid_token_signs_in_and_no_token_is_anonymous() {
    let app = spawn_app().await;
    app.viewer_with_bearer(&sign(&session_claims("user_1")))
        .await
        .assert_signed_in_as("user_1");
    app.post_graphql("{ viewer { userId } health }", &[])
        .await
        .assert_anonymous();
}

#[tokio::test]
async fn header_takes_precedence_over_cookie() {
    let app = spawn_app().await;
    let header_token = sign(&session_claims("user_header"));
    let cookie_token = sign(&session_claims("user_cookie"));
    let bearer = format!("Bearer {header_token}");
    let cookie = format!("__session={cookie_token}");

    app.post_graphql(
        "{ viewer { userId } }",
        &[("authorization", &bearer), ("cookie", &cookie)],
    )
    .await
    .assert_signed_in_as("user_header");
    // The header wins even when it is the bad one: no silent fallback to the cookie.
    app.post_graphql(
        "{ viewer { userId } }",
        &[("authorization", "Bearer abc"), ("cookie", &cookie)],
    )
    .await
    .assert_refused("token_malformed");
    app.post_graphql("{ viewer { userId } }", &[("cookie", &cookie)])
        .await
        .assert_signed_in_as("user_cookie");
    // Without a publishable key, suffixed cookies are another instance's business.
    let suffixed = format!("other=1; __session_Xy12Ab34={cookie_token}");
    app.post_graphql("{ viewer { userId } }", &[("cookie", &suffixed)])
        .await
        .assert_anonymous();
    // A bad cookie token is refused like a bad header token.
    app.post_graphql("{ viewer { userId } }", &[("cookie", "__session=a.b.c")])
        .await
        .assert_refused("token_malformed");
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
    let app = spawn_app().await;
    let token = sign(&session_claims("user_1"));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {token}");
        app.post_graphql("{ viewer { userId } }", &[("authorization", &header)])
            .await
            .assert_signed_in_as("user_1");
    }
    for header in ["Basic dXNlcjpwYXNz", "Token abc", &token] {
        app.post_graphql("{ viewer { userId } }", &[("authorization", header)])
            .await
            .assert_refused("unsupported_scheme");
    }
}

#[tokio::test]
async fn expiry_boundaries_with_and_without_skew() {
    let strict = app_at_t(0).await;
    let lenient = app_at_t(5).await;
    let expired_1s = sign(&with(claims_at_t(), json!({"exp": T - 1})));
    strict
        .viewer_with_bearer(&expired_1s)
        .await
        .assert_refused("token_expired");
    lenient
        .viewer_with_bearer(&expired_1s)
        .await
        .assert_signed_in_as("user_t");

    // exp == now is expired (Clerk: exp*1000 <= now - skew).
    let expires_now = sign(&with(claims_at_t(), json!({"exp": T})));
    strict
        .viewer_with_bearer(&expires_now)
        .await
        .assert_refused("token_expired");
    // Exactly at the edge of the skew: expired.
    let at_skew_edge = sign(&with(claims_at_t(), json!({"exp": T - 5})));
    lenient
        .viewer_with_bearer(&at_skew_edge)
        .await
        .assert_refused("token_expired");

    let missing_exp = sign(&with(claims_at_t(), json!({"exp": null})));
    strict
        .viewer_with_bearer(&missing_exp)
        .await
        .assert_refused("token_malformed");
    let string_exp = sign(&with(claims_at_t(), json!({"exp": "tomorrow"})));
    strict
        .viewer_with_bearer(&string_exp)
        .await
        .assert_refused("token_malformed");
}

#[tokio::test]
async fn nbf_and_iat_in_the_future() {
    let strict = app_at_t(0).await;
    let lenient = app_at_t(5).await;

    let nbf_future = sign(&with(claims_at_t(), json!({"nbf": T + 1})));
    strict
        .viewer_with_bearer(&nbf_future)
        .await
        .assert_refused("token_not_active_yet");
    lenient
        .viewer_with_bearer(&nbf_future)
        .await
        .assert_signed_in_as("user_t");
    let nbf_now = sign(&with(claims_at_t(), json!({"nbf": T})));
    strict
        .viewer_with_bearer(&nbf_now)
        .await
        .assert_signed_in_as("user_t");
    let nbf_beyond_skew = sign(&with(claims_at_t(), json!({"nbf": T + 6})));
    lenient
        .viewer_with_bearer(&nbf_beyond_skew)
        .await
        .assert_refused("token_not_active_yet");

    let iat_future = sign(&with(claims_at_t(), json!({"iat": T + 1, "nbf": T - 10})));
    strict
        .viewer_with_bearer(&iat_future)
        .await
        .assert_refused("token_iat_in_the_future");
    lenient
        .viewer_with_bearer(&iat_future)
        .await
        .assert_signed_in_as("user_t");
    let iat_beyond_skew = sign(&with(claims_at_t(), json!({"iat": T + 6})));
    lenient
        .viewer_with_bearer(&iat_beyond_skew)
        .await
        .assert_refused("token_iat_in_the_future");

    // Neither claim is required.
    let neither = sign(&with(claims_at_t(), json!({"nbf": null, "iat": null})));
    strict
        .viewer_with_bearer(&neither)
        .await
        .assert_signed_in_as("user_t");
}

#[tokio::test]
async fn subject_must_be_a_non_empty_string() {
    let app = spawn_app().await;
    for sub in [
        json!(""),
        json!(42),
        json!(null),
        json!({"id": "user_1"}),
        json!(["user_1"]),
    ] {
        let token = sign(&with(session_claims("x"), json!({ "sub": sub.clone() })));
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_malformed");
    }
    // A machine token's subject is not a session.
    let machine = sign(&session_claims("mch_2abc"));
    app.viewer_with_bearer(&machine)
        .await
        .assert_refused("token_type_mismatch");
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let app = spawn_app().await;
    for iss in [
        json!("https://other-instance.clerk.accounts.dev"),
        json!(format!("{ISSUER}/")),
        json!("http://test-instance.clerk.accounts.dev"),
        json!(null),
    ] {
        let token = sign(&with(
            session_claims("user_1"),
            json!({ "iss": iss.clone() }),
        ));
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_invalid_issuer");
    }
}

#[tokio::test]
async fn authorized_parties_when_configured() {
    let app = spawn_app_with(AppOptions::default().var(
        "CLERK_AUTHORIZED_PARTIES",
        "https://app.example.com, http://localhost:3000",
    ))
    .await;
    let listed = sign(&with(
        session_claims("user_1"),
        json!({"azp": "https://app.example.com"}),
    ));
    app.viewer_with_bearer(&listed)
        .await
        .assert_signed_in_as("user_1");
    for azp in [
        json!("https://evil.example.com"),
        json!(""),
        json!(null),
        json!("https://app.example.com/"),
    ] {
        let token = sign(&with(
            session_claims("user_1"),
            json!({ "azp": azp.clone() }),
        ));
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_invalid_authorized_party");
    }

    // Not configured: any azp, or none, is accepted.
    let open = spawn_app().await;
    for azp in [json!("https://evil.example.com"), json!(null)] {
        let token = sign(&with(session_claims("user_1"), json!({ "azp": azp })));
        open.viewer_with_bearer(&token)
            .await
            .assert_signed_in_as("user_1");
    }
}

#[tokio::test]
async fn audience_only_when_configured() {
    let app = spawn_app_with(AppOptions::default().var("CLERK_AUDIENCE", "api.example.com")).await;
    for aud in [
        json!("api.example.com"),
        json!(["other", "api.example.com"]),
    ] {
        let token = sign(&with(session_claims("user_1"), json!({ "aud": aud })));
        app.viewer_with_bearer(&token)
            .await
            .assert_signed_in_as("user_1");
    }
    for aud in [
        json!(null),
        json!("other"),
        json!(["other"]),
        json!("api.example"),
        json!(7),
    ] {
        let token = sign(&with(session_claims("user_1"), json!({ "aud": aud })));
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_invalid_audience");
    }
    // Without CLERK_AUDIENCE a token that carries `aud` is not refused for it.
    let open = spawn_app().await;
    let token = sign(&with(session_claims("user_1"), json!({"aud": "anything"})));
    open.viewer_with_bearer(&token)
        .await
        .assert_signed_in_as("user_1");
}

#[tokio::test]
async fn algorithm_confusion_and_foreign_algorithms_are_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey};

    let app = spawn_app().await;
    let key = TestKey::primary();
    let claims = session_claims("user_1");

    let none = format!(
        "{}.",
        signing_input(
            &json!({"alg": "none", "kid": key.kid, "typ": "JWT"}),
            &claims
        )
    );
    app.viewer_with_bearer(&none)
        .await
        .assert_refused("token_invalid_algorithm");

    // HS256 "signed" with the public key's PEM bytes as the HMAC secret: a verifier that takes
    // `alg` from the header and the public key as the secret would accept it.
    let hmac_key = EncodingKey::from_secret(key.public_pem.as_bytes());
    for header_alg in ["HS256", "RS256"] {
        let input = signing_input(
            &json!({"alg": header_alg, "kid": key.kid, "typ": "JWT"}),
            &claims,
        );
        let mac =
            jsonwebtoken::crypto::sign(input.as_bytes(), &hmac_key, Algorithm::HS256).unwrap();
        let token = format!("{input}.{mac}");
        let expected = if header_alg == "HS256" {
            "token_invalid_algorithm"
        } else {
            "token_invalid_signature"
        };
        app.viewer_with_bearer(&token)
            .await
            .assert_refused(expected);
    }

    for alg in ["ES256", "PS256", "EdDSA", "RS1"] {
        let input = signing_input(&json!({"alg": alg, "kid": key.kid, "typ": "JWT"}), &claims);
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]));
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_invalid_algorithm");
    }
}

#[tokio::test]
async fn tampered_payload_and_foreign_key_with_same_kid() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let app = spawn_app().await;
    let token = sign(&session_claims("user_1"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(session_claims("user_admin").to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    app.viewer_with_bearer(&tampered)
        .await
        .assert_refused("token_invalid_signature");

    // Signed by another key but claiming the served key's kid.
    let header = json!({"alg": "RS256", "kid": TestKey::primary().kid, "typ": "JWT"});
    let impostor = TestKey::secondary().sign_with_header(&header, &session_claims("user_1"));
    app.viewer_with_bearer(&impostor)
        .await
        .assert_refused("token_invalid_signature");

    // Signature errors come before claim errors (no oracle): an expired, wrong-issuer token
    // with a bad signature reports the signature.
    let bad_everything = TestKey::secondary().sign_with_header(
        &header,
        &with(
            session_claims("user_1"),
            json!({"exp": 1, "iss": "https://evil"}),
        ),
    );
    app.viewer_with_bearer(&bad_everything)
        .await
        .assert_refused("token_invalid_signature");
}

#[tokio::test]
async fn template_and_machine_tokens_are_not_session_tokens() {
    let app = spawn_app().await;
    let key = TestKey::primary();
    let claims = session_claims("user_1");
    for cat in ["cl_B7d4PD222AAA", "cl_B7d4PD333AAA"] {
        let token = key.sign_with_header(
            &json!({"alg": "RS256", "kid": key.kid, "typ": "JWT", "cat": cat}),
            &claims,
        );
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_type_mismatch");
    }
    for typ in ["at+jwt", "application/at+jwt", ""] {
        let token = key.sign_with_header(
            &json!({"alg": "RS256", "kid": key.kid, "typ": typ}),
            &claims,
        );
        app.viewer_with_bearer(&token)
            .await
            .assert_refused("token_type_mismatch");
    }
    // The session category, the "ignore" category and no typ at all are accepted.
    for header in [
        json!({"alg": "RS256", "kid": key.kid, "typ": "JWT", "cat": "cl_B7d4PD111AAA"}),
        json!({"alg": "RS256", "kid": key.kid, "cat": "cl_I7d4PD111III"}),
        json!({"alg": "RS256", "kid": key.kid}),
    ] {
        app.viewer_with_bearer(&key.sign_with_header(&header, &claims))
            .await
            .assert_signed_in_as("user_1");
    }
}

#[tokio::test]
async fn pending_session_is_signed_out() {
    let app = spawn_app().await;
    let pending = sign(&with(session_claims("user_1"), json!({"sts": "pending"})));
    app.viewer_with_bearer(&pending).await.assert_anonymous();
    let active = sign(&with(session_claims("user_1"), json!({"sts": "active"})));
    app.viewer_with_bearer(&active)
        .await
        .assert_signed_in_as("user_1");
}

#[tokio::test]
async fn garbage_is_malformed_and_never_echoed() {
    let app = spawn_app().await;
    let dots = ".".repeat(16 * 1024);
    let oversized = format!("{}.{}.{}", "a".repeat(6000), "b".repeat(6000), "c");
    for garbage in ["abc", "a.b.c", "YWJj.YWJj.YWJj", "42", &dots, &oversized] {
        let reply = app.viewer_with_bearer(garbage).await;
        reply.assert_refused("token_malformed");
        if garbage.len() > 3 {
            assert!(!reply.body.to_string().contains(garbage), "token echoed");
            assert!(
                !reply.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains(garbage)
            );
        }
    }
    // What signed-out frontends send is no token: anonymous, not refused.
    for signed_out in ["", "null", "undefined"] {
        app.viewer_with_bearer(signed_out).await.assert_anonymous();
    }
    // The server keeps serving.
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["health"], "ok");
}
