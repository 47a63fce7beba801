//! The verified-token cache: a repeated token is answered from it, but never differently from a
//! full verification: not past `exp` (or before `nbf` / `iat` when the clock goes back), not after
//! the key set changed, and refused tokens never create entries. Hits are asserted through the
//! cache's counters, never through timing.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

use clerk_graphql::auth::clock::{Clock, FixedClock};
use clerk_graphql::auth::jwks::{JwksCache, VerificationKey};
use clerk_graphql::auth::keys::KeySource;
use clerk_graphql::auth::verifier::ClaimRules;
use clerk_graphql::auth::{AuthFailure, Verified, Verifier};
use clerk_graphql::config::{JwksSettings, Secret};

use crate::fake_clerk::{FakeClerk, SECRET_KEY};
use crate::helpers::{AppOptions, spawn_app, spawn_app_with};
use crate::tokens::{ISSUER, TestKey, session_claims, with};

const T: i64 = 1_800_000_000;
const SKEW: i64 = 5;

fn rules(capacity: u64) -> ClaimRules {
    ClaimRules {
        issuer: Some(ISSUER.to_string()),
        clock_skew: Duration::from_secs(SKEW as u64),
        verified_cache_capacity: capacity,
        ..ClaimRules::default()
    }
}

/// A verifier with the primary test key as `CLERK_JWT_KEY` would give it.
fn pem_verifier(clock: Arc<FixedClock>, capacity: u64) -> Verifier {
    pem_verifier_with(clock, rules(capacity))
}

fn pem_verifier_with(clock: Arc<FixedClock>, rules: ClaimRules) -> Verifier {
    let key = DecodingKey::from_rsa_pem(TestKey::primary().public_pem.as_bytes()).unwrap();
    let keys = KeySource::Pem(Arc::new(VerificationKey {
        key,
        algorithm: None,
    }));
    Verifier::new(keys, rules, clock as Arc<dyn Clock>)
}

/// A verifier reading the fake Clerk's Backend API JWKS, loaded before it returns.
async fn jwks_verifier(clerk: &FakeClerk, jwks: JwksSettings) -> Verifier {
    let cache = JwksCache::new(
        format!("{}/v1/jwks", clerk.url),
        Some(Secret::new(SECRET_KEY)),
        jwks,
    );
    assert!(cache.warm_up().await, "the fake Clerk serves a JWKS");
    Verifier::new(
        KeySource::Jwks(cache),
        rules(1024),
        Arc::new(clerk_graphql::auth::clock::SystemClock),
    )
}

/// Claims valid at the fixed instant `T`: `iat = T`, `nbf = T - 10`, `exp = T + 60`.
fn claims_at_t(sub: &str) -> Value {
    with(
        session_claims(sub),
        json!({"iat": T, "nbf": T - 10, "exp": T + 60}),
    )
}

fn user_id(verified: &Verified) -> &str {
    match verified {
        Verified::SignedIn(viewer) => &viewer.user_id,
        Verified::Pending => panic!("expected a signed-in viewer"),
    }
}

fn counters(verifier: &Verifier) -> (u64, u64) {
    let cache = verifier.verified_cache().expect("the cache is on");
    (cache.hits(), cache.insertions())
}

async fn entries(verifier: &Verifier) -> u64 {
    verifier.verified_cache().unwrap().entry_count().await
}

#[tokio::test]
async fn the_cache_is_on_by_default_with_room_for_the_benchmark() {
    let rules = ClaimRules::default();
    assert!(rules.verified_cache_capacity >= 10_000);
    let verifier = pem_verifier(
        FixedClock::at_unix_seconds(T),
        rules.verified_cache_capacity,
    );
    assert_eq!(
        verifier.verified_cache().unwrap().capacity(),
        rules.verified_cache_capacity
    );
    assert!(
        pem_verifier(FixedClock::at_unix_seconds(T), 0)
            .verified_cache()
            .is_none()
    );
}

#[tokio::test]
async fn a_repeated_valid_token_is_answered_from_the_cache() {
    let verifier = pem_verifier(FixedClock::at_unix_seconds(T), 1024);
    let token = TestKey::primary().sign(&claims_at_t("user_1"));

    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(user_id(&first), "user_1");
    assert_eq!(counters(&verifier), (0, 1), "a miss, then stored");

    for _ in 0..5 {
        let again = verifier.verify(&token).await.unwrap();
        let (Verified::SignedIn(a), Verified::SignedIn(b)) = (&first, &again) else {
            panic!("signed in");
        };
        assert!(Arc::ptr_eq(a, b), "the viewer is shared, not rebuilt");
    }
    assert_eq!(counters(&verifier), (5, 1));
    assert_eq!(entries(&verifier).await, 1);

    // Another token of the same user is another entry: the key is the whole token.
    let other = TestKey::primary().sign(&with(claims_at_t("user_1"), json!({"sid": "sess_2"})));
    verifier.verify(&other).await.unwrap();
    assert_eq!(counters(&verifier), (5, 2));
    assert_eq!(entries(&verifier).await, 2);
}

#[tokio::test]
async fn a_pending_session_is_cached_as_pending() {
    let verifier = pem_verifier(FixedClock::at_unix_seconds(T), 1024);
    let token = TestKey::primary().sign(&with(claims_at_t("user_1"), json!({"sts": "pending"})));
    assert_eq!(verifier.verify(&token).await, Ok(Verified::Pending));
    assert_eq!(verifier.verify(&token).await, Ok(Verified::Pending));
    assert_eq!(counters(&verifier), (1, 1));
}

#[tokio::test]
async fn refused_tokens_never_create_entries() {
    let verifier = pem_verifier(FixedClock::at_unix_seconds(T), 1024);
    let claims = claims_at_t("user_1");
    let valid = TestKey::primary().sign(&claims);
    let (signing_input, _) = valid.rsplit_once('.').unwrap();
    let forged_signature = format!("{signing_input}.{}", "A".repeat(342));
    let cases = [
        (
            TestKey::secondary().sign(&claims),
            AuthFailure::InvalidSignature,
        ),
        (forged_signature, AuthFailure::InvalidSignature),
        ("a.b.c".to_string(), AuthFailure::Malformed),
        // Validly signed, but refused by a claim check.
        (
            TestKey::primary().sign(&with(claims.clone(), json!({"exp": T - 60}))),
            AuthFailure::Expired,
        ),
        (
            TestKey::primary().sign(&with(
                claims.clone(),
                json!({"iss": "https://evil.example"}),
            )),
            AuthFailure::InvalidIssuer,
        ),
    ];
    for (token, failure) in &cases {
        for _ in 0..3 {
            assert_eq!(verifier.verify(token).await, Err(*failure));
        }
    }
    assert_eq!(counters(&verifier), (0, 0), "no hit, nothing stored");
    assert_eq!(entries(&verifier).await, 0);

    // A flood of forged tokens leaves the cache empty too.
    for i in 0..200 {
        let forged =
            TestKey::secondary().sign(&with(claims.clone(), json!({"sid": format!("s{i}")})));
        assert_eq!(
            verifier.verify(&forged).await,
            Err(AuthFailure::InvalidSignature)
        );
    }
    assert_eq!(entries(&verifier).await, 0);

    // The valid token still verifies, and only it is stored.
    assert_eq!(user_id(&verifier.verify(&valid).await.unwrap()), "user_1");
    assert_eq!(entries(&verifier).await, 1);
}

/// Any change to a cached token makes another cache key: the copy is verified in full and refused
/// with the reason a verifier that never saw the original gives, and the original stays cached.
#[tokio::test]
async fn a_tampered_copy_of_a_cached_token_is_refused_like_an_uncached_one() {
    let clock = FixedClock::at_unix_seconds(T);
    let verifier = pem_verifier(Arc::clone(&clock), 1024);
    let uncached = pem_verifier(Arc::clone(&clock), 0);
    let claims = with(claims_at_t("user_1"), json!({"azp": "https://app.example"}));
    let original = TestKey::primary().sign(&claims);
    verifier.verify(&original).await.unwrap();
    assert_eq!(counters(&verifier), (0, 1));

    let [header, payload, signature]: [&str; 3] =
        original.split('.').collect::<Vec<_>>().try_into().unwrap();
    let encode = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let flipped_signature = {
        let mut bytes = signature.as_bytes().to_vec();
        bytes[100] = if bytes[100] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let tampered = [
        // Another user's claims under the original signature.
        format!(
            "{header}.{}.{signature}",
            encode(with(claims.clone(), json!({"sub": "user_admin"})))
        ),
        // A role granted in the claims, everything else identical.
        format!(
            "{header}.{}.{signature}",
            encode(with(claims.clone(), json!({"metadata": {"role": "admin"}})))
        ),
        // A later expiry.
        format!(
            "{header}.{}.{signature}",
            encode(with(claims.clone(), json!({"exp": T + 86_400})))
        ),
        // One character of the signature.
        format!("{header}.{payload}.{flipped_signature}"),
        // The algorithm switched (HMAC keyed with the public key: algorithm confusion).
        format!(
            "{}.{payload}.{signature}",
            encode(json!({"alg": "HS256", "typ": "JWT", "kid": TestKey::primary().kid}))
        ),
        // The signature dropped, or something appended.
        format!("{header}.{payload}."),
        format!("{original}.{signature}"),
    ];
    for copy in &tampered {
        let refused = uncached.verify(copy).await;
        assert!(refused.is_err(), "{copy} is refused without the cache");
        assert_eq!(verifier.verify(copy).await, refused, "{copy}");
    }
    assert_eq!(counters(&verifier), (0, 1), "no hit, nothing stored");
    assert_eq!(
        user_id(&verifier.verify(&original).await.unwrap()),
        "user_1"
    );
    assert_eq!(counters(&verifier), (1, 1), "the original is still a hit");
}

/// Entries belong to the verifier of one configuration: a token cached while the server trusted
/// one issuer, party or audience is checked in full by a verifier configured otherwise (a restart
/// with new settings), never answered from what the old configuration accepted.
#[tokio::test]
async fn a_token_cached_under_one_issuer_configuration_is_refused_under_another() {
    let clock = FixedClock::at_unix_seconds(T);
    let token = TestKey::primary().sign(&with(
        claims_at_t("user_1"),
        json!({"azp": "https://app.example", "aud": "api://app"}),
    ));
    let original = pem_verifier(Arc::clone(&clock), 1024);
    original.verify(&token).await.unwrap();
    original.verify(&token).await.unwrap();
    assert_eq!(counters(&original), (1, 1));

    type Reconfiguration = fn(&mut ClaimRules);
    let configured = |change: Reconfiguration| {
        let mut rules = rules(1024);
        change(&mut rules);
        pem_verifier_with(Arc::clone(&clock), rules)
    };
    let reconfigurations: [(Reconfiguration, AuthFailure); 3] = [
        (
            |r| r.issuer = Some("https://other-instance.clerk.accounts.dev".into()),
            AuthFailure::InvalidIssuer,
        ),
        (
            |r| r.authorized_parties = vec!["https://other.example".into()],
            AuthFailure::InvalidAuthorizedParty,
        ),
        (
            |r| r.audience = vec!["api://other".into()],
            AuthFailure::InvalidAudience,
        ),
    ];
    for (change, failure) in reconfigurations {
        let reconfigured = configured(change);
        for _ in 0..2 {
            assert_eq!(reconfigured.verify(&token).await, Err(failure));
        }
        assert_eq!(
            counters(&reconfigured),
            (0, 0),
            "{failure:?}: no hit, nothing stored"
        );
    }
    // The old configuration's verifier still answers from its own cache.
    original.verify(&token).await.unwrap();
    assert_eq!(counters(&original), (2, 1));
}

#[tokio::test]
async fn a_cached_token_is_refused_once_expired_with_the_uncached_reason() {
    let clock = FixedClock::at_unix_seconds(T);
    let verifier = pem_verifier(Arc::clone(&clock), 1024);
    let uncached = pem_verifier(Arc::clone(&clock), 0);
    let token = TestKey::primary().sign(&claims_at_t("user_1"));
    verifier.verify(&token).await.unwrap();

    // Within the skew after exp: still valid, from the cache.
    clock.set_unix_seconds(T + 60 + SKEW - 1);
    assert!(verifier.verify(&token).await.is_ok());
    assert!(uncached.verify(&token).await.is_ok());
    assert_eq!(counters(&verifier), (1, 1));

    // exp <= now - skew: expired, answered by the cache path with the full path's reason.
    for at in [T + 60 + SKEW, T + 3600] {
        clock.set_unix_seconds(at);
        assert_eq!(uncached.verify(&token).await, Err(AuthFailure::Expired));
        assert_eq!(verifier.verify(&token).await, Err(AuthFailure::Expired));
    }
    assert_eq!(counters(&verifier), (3, 1), "the refusals came from hits");
}

#[tokio::test]
async fn a_cached_token_is_refused_before_nbf_or_iat_when_the_clock_goes_back() {
    let clock = FixedClock::at_unix_seconds(T);
    let verifier = pem_verifier(Arc::clone(&clock), 1024);
    let uncached = pem_verifier(Arc::clone(&clock), 0);
    let with_nbf = TestKey::primary().sign(&claims_at_t("user_1"));
    let iat_only = TestKey::primary().sign(&with(claims_at_t("user_2"), json!({"nbf": null})));
    verifier.verify(&with_nbf).await.unwrap();
    verifier.verify(&iat_only).await.unwrap();

    // nbf = T - 10: refused once now + skew < nbf, i.e. from T - 16 back.
    // iat = T: refused once now + skew < iat, i.e. from T - 6 back; nbf is checked first.
    let iat = Err(AuthFailure::IatInTheFuture);
    for (at, nbf_reason, iat_reason) in [
        (T - 5, Ok(()), Ok(())),
        (T - 6, iat, iat),
        (T - 15, iat, iat),
        (T - 16, Err(AuthFailure::NotActiveYet), iat),
    ] {
        clock.set_unix_seconds(at);
        for (token, expected) in [(&with_nbf, nbf_reason), (&iat_only, iat_reason)] {
            let cached = verifier.verify(token).await.map(|_| ());
            let full = uncached.verify(token).await.map(|_| ());
            assert_eq!(cached, expected, "at T{:+}", at - T);
            assert_eq!(cached, full, "at T{:+}", at - T);
        }
    }
    assert_eq!(counters(&verifier).0, 8, "every answer came from a hit");
}

#[tokio::test]
async fn a_token_whose_key_was_rotated_out_is_refused_like_an_uncached_one() {
    let clerk = FakeClerk::start().await;
    let verifier = jwks_verifier(&clerk, JwksSettings::default()).await;
    let cached = TestKey::primary().sign(&session_claims("user_1"));
    verifier.verify(&cached).await.unwrap();
    verifier.verify(&cached).await.unwrap();
    assert_eq!(counters(&verifier), (1, 1));

    // Clerk rotates to a key set without the primary key; a token of the new key triggers the
    // refresh (unknown kid).
    clerk.serve_keys(&[TestKey::secondary()]);
    let new_key = TestKey::secondary().sign(&session_claims("user_2"));
    assert_eq!(user_id(&verifier.verify(&new_key).await.unwrap()), "user_2");
    assert_eq!(clerk.jwks_calls(), 2);

    let never_seen = TestKey::primary().sign(&session_claims("user_3"));
    let uncached_reason = verifier.verify(&never_seen).await;
    assert_eq!(uncached_reason, Err(AuthFailure::KidMismatch));
    assert_eq!(verifier.verify(&cached).await, uncached_reason);
    assert_eq!(counters(&verifier), (1, 2), "the stale entry was not a hit");
    assert_eq!(entries(&verifier).await, 1, "the stale entry was dropped");
    // And it stays refused.
    assert_eq!(verifier.verify(&cached).await, uncached_reason);
}

#[tokio::test]
async fn a_token_whose_kid_now_names_another_key_is_refused_like_an_uncached_one() {
    let clerk = FakeClerk::start().await;
    let verifier = jwks_verifier(&clerk, JwksSettings::default()).await;
    let cached = TestKey::primary().sign(&session_claims("user_1"));
    verifier.verify(&cached).await.unwrap();

    // The primary kid now names the secondary key's material: the cached token's signature no
    // longer verifies under the key set, although its kid is still served.
    let mut replaced = TestKey::secondary().jwk.clone();
    replaced["kid"] = json!(TestKey::primary().kid);
    let mut unknown = TestKey::secondary().jwk.clone();
    unknown["kid"] = json!("ins_test_new");
    clerk.serve_jwks(json!({ "keys": [replaced, unknown] }));
    let trigger = TestKey::secondary().sign_with_header(
        &json!({"alg": "RS256", "kid": "ins_test_new", "typ": "JWT"}),
        &session_claims("user_2"),
    );
    verifier.verify(&trigger).await.unwrap();
    assert_eq!(clerk.jwks_calls(), 2);

    let never_seen = TestKey::primary().sign(&session_claims("user_3"));
    assert_eq!(
        verifier.verify(&never_seen).await,
        Err(AuthFailure::InvalidSignature)
    );
    assert_eq!(
        verifier.verify(&cached).await,
        Err(AuthFailure::InvalidSignature)
    );
}

#[tokio::test]
async fn a_refetch_of_the_same_key_set_keeps_the_entries() {
    let clerk = FakeClerk::start().await;
    let verifier = jwks_verifier(&clerk, JwksSettings::default()).await;
    let cached = TestKey::primary().sign(&session_claims("user_1"));
    verifier.verify(&cached).await.unwrap();

    // An unknown kid makes the cache fetch again; the same keys come back.
    let unknown = TestKey::primary().sign_with_header(
        &json!({"alg": "RS256", "kid": "ins_unknown", "typ": "JWT"}),
        &session_claims("user_1"),
    );
    assert_eq!(
        verifier.verify(&unknown).await,
        Err(AuthFailure::KidMismatch)
    );
    assert_eq!(clerk.jwks_calls(), 2);

    verifier.verify(&cached).await.unwrap();
    assert_eq!(counters(&verifier), (1, 1), "still a hit");
}

#[tokio::test]
async fn hits_still_refresh_a_stale_key_set_and_see_its_rotation() {
    // TTL zero: every use of the key set finds it stale, as a key lookup would.
    let clerk = FakeClerk::start().await;
    let verifier = jwks_verifier(
        &clerk,
        JwksSettings {
            ttl: Duration::ZERO,
            ..JwksSettings::default()
        },
    )
    .await;
    let cached = TestKey::primary().sign(&session_claims("user_1"));
    verifier.verify(&cached).await.unwrap();
    clerk.serve_keys(&[TestKey::secondary()]);

    // Only hits from here: they must keep the background refresh going, so that the rotation is
    // noticed without any miss.
    let mut refused = None;
    for _ in 0..200 {
        match verifier.verify(&cached).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(failure) => {
                refused = Some(failure);
                break;
            }
        }
    }
    assert_eq!(refused, Some(AuthFailure::KidMismatch));
    assert!(clerk.jwks_calls() >= 2, "a background refresh ran");
}

// Over HTTP, the same guarantees as the client sees them.

#[tokio::test]
async fn over_http_a_repeated_token_past_exp_is_401_token_expired() {
    let clock = FixedClock::at_unix_seconds(T);
    let app = spawn_app_with(AppOptions {
        clock: Some(Arc::clone(&clock) as Arc<dyn Clock>),
        ..AppOptions::default()
    })
    .await;
    let token = TestKey::primary().sign(&claims_at_t("user_t"));
    for _ in 0..3 {
        app.viewer_with_bearer(&token)
            .await
            .assert_signed_in_as("user_t");
    }
    clock.set_unix_seconds(T + 60 + SKEW);
    app.viewer_with_bearer(&token)
        .await
        .assert_refused("token_expired");
    // Back within the window (a clock stepped back) it is valid again, as without a cache.
    clock.set_unix_seconds(T + 30);
    app.viewer_with_bearer(&token)
        .await
        .assert_signed_in_as("user_t");
    clock.set_unix_seconds(T - 20);
    app.viewer_with_bearer(&token)
        .await
        .assert_refused("token_not_active_yet");
}

#[tokio::test]
async fn over_http_a_repeated_token_of_a_rotated_out_key_is_refused() {
    let app = spawn_app().await;
    let token = TestKey::primary().sign(&session_claims("user_1"));
    for _ in 0..3 {
        app.viewer_with_bearer(&token)
            .await
            .assert_signed_in_as("user_1");
    }
    app.clerk.serve_keys(&[TestKey::secondary()]);
    app.viewer_with_bearer(&TestKey::secondary().sign(&session_claims("user_2")))
        .await
        .assert_signed_in_as("user_2");
    assert_eq!(app.clerk.jwks_calls(), 2, "the rotation was fetched");

    app.viewer_with_bearer(&token)
        .await
        .assert_refused("jwk_kid_mismatch");
    app.viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_3")))
        .await
        .assert_refused("jwk_kid_mismatch");
}
