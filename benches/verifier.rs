//! Session-token verification: a full RS256 verification (verified-token cache off) against the
//! repeat of an already verified token (answered from the cache), for one token and for 10,000
//! distinct tokens in rotation. Keys are generated at start: no private key is committed.
//!
//! `cargo bench --bench verifier -- --warm-up-time 1 --measurement-time 3`
//!
//! It also prints, from a counting global allocator, the memory the cache holds per entry (live
//! heap bytes once the 10,000 tokens are cached, and how much of it is the shared viewer) and the
//! heap allocations made by a cache hit, to back the figures in `verified_cache`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::DecodingKey;
use serde_json::json;

use clerk_graphql::auth::clock::SystemClock;
use clerk_graphql::auth::jwks::VerificationKey;
use clerk_graphql::auth::keys::KeySource;
use clerk_graphql::auth::verified_cache::token_digest;
use clerk_graphql::auth::verifier::ClaimRules;
use clerk_graphql::auth::{Verified, Verifier};

/// Live heap bytes, for the per-entry memory figure.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ISSUER: &str = "https://bench-instance.clerk.accounts.dev";
const ROTATION: usize = 10_000;

struct Signer {
    pair: KeyPair,
}

impl Signer {
    fn generate() -> Self {
        Self {
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    fn key_source(&self) -> KeySource {
        let public = self.pair.public_key();
        let key = DecodingKey::from_rsa_raw_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        KeySource::Pem(Arc::new(VerificationKey {
            key,
            algorithm: None,
        }))
    }

    /// A Clerk v2 session token of `i`-th session, valid for an hour.
    fn token(&self, i: usize) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"alg": "RS256", "kid": "ins_bench", "typ": "JWT"});
        let claims = json!({
            "azp": "http://localhost:3000",
            "exp": now + 3600,
            "fva": [0, -1],
            "iat": now,
            "iss": ISSUER,
            "nbf": now - 10,
            "sid": format!("sess_2bench{i:020}"),
            "sts": "active",
            "sub": format!("user_2bench{i:020}"),
            "v": 2,
            "pla": "u:free",
            "fea": "u:search,o:dashboard",
            "o": {"id": "org_2bench0000000000000000", "slg": "acme", "rol": "admin",
                  "per": "read,manage", "fpm": "3"},
            "metadata": {"role": "editor"},
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// `count` distinct tokens, signed on every core.
    fn tokens(&self, count: usize) -> Vec<String> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        (t * per_thread..((t + 1) * per_thread).min(count))
                            .map(|i| self.token(i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("signing thread"))
                .collect()
        })
    }
}

fn verifier(signer: &Signer, cache_capacity: u64) -> Verifier {
    let rules = ClaimRules {
        issuer: Some(ISSUER.to_string()),
        authorized_parties: vec!["http://localhost:3000".to_string()],
        verified_cache_capacity: cache_capacity,
        ..ClaimRules::default()
    };
    Verifier::new(signer.key_source(), rules, Arc::new(SystemClock))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let signer = Signer::generate();
    let token = signer.token(0);
    eprintln!("token: {} bytes", token.len());
    let tokens = signer.tokens(ROTATION);

    let uncached = verifier(&signer, 0);
    let cached = verifier(&signer, ClaimRules::default().verified_cache_capacity);
    let verify_all = |verifier: &Verifier, tokens: &[String]| {
        runtime.block_on(async {
            for token in tokens {
                let verified = verifier.verify(token).await.expect("a valid token");
                assert!(matches!(verified, Verified::SignedIn(_)));
            }
        })
    };
    verify_all(&uncached, std::slice::from_ref(&token));

    // The viewer a verification returns (shared with the cache entry): live heap it holds.
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let viewer = runtime.block_on(uncached.verify(&token)).expect("valid");
    let viewer_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
    drop(viewer);

    // Memory per entry: live heap before and after the 10,000 tokens enter the cache.
    let cache = cached.verified_cache().expect("cache on");
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    verify_all(&cached, &tokens);
    let entries = runtime.block_on(cache.entry_count());
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    assert_eq!(entries, ROTATION as u64, "every token is held");
    let per_entry = (after - before) / entries as isize;
    eprintln!(
        "verified-token cache: {entries} entries hold {} KiB: {per_entry} bytes per entry, \
         of which {viewer_bytes} the viewer, {} the cache itself",
        (after - before) / 1024,
        per_entry - viewer_bytes
    );
    verify_all(&cached, std::slice::from_ref(&token));

    // Heap allocations of a hit (amortised: moka's bookkeeping runs now and then).
    let hits = 100_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    runtime.block_on(async {
        for _ in 0..hits {
            black_box(cached.verify(black_box(&token)).await.expect("valid"));
        }
    });
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!(
        "cache hits: {allocations} heap allocations in {hits} hits ({:.3} per hit)",
        allocations as f64 / hits as f64
    );

    let mut group = c.benchmark_group("verify");
    group.bench_function("full_rs256_cache_off", |b| {
        let (verifier, token) = (&uncached, token.as_str());
        b.to_async(&runtime)
            .iter(|| verifier.verify(black_box(token)))
    });
    group.bench_function("cached_same_token", |b| {
        let (verifier, token) = (&cached, token.as_str());
        b.to_async(&runtime)
            .iter(|| verifier.verify(black_box(token)))
    });
    group.bench_function("cached_10k_tokens_in_rotation", |b| {
        let (verifier, tokens) = (&cached, tokens.as_slice());
        let mut i = 0;
        b.to_async(&runtime).iter(move || {
            i = (i + 1) % tokens.len();
            verifier.verify(black_box(tokens[i].as_str()))
        })
    });
    group.bench_function("sha256_of_the_token_only", |b| {
        b.iter(|| token_digest(black_box(&token)))
    });
    group.finish();
    let hits = cache.hits();
    eprintln!("cache hits during the run: {hits}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
