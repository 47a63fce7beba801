#!/usr/bin/env python3
"""Helpers of `scripts/bench` (see bench/README.md): key pair and tokens, a fake Clerk Backend
API, seeding, correctness samples and the results table. Needs only `cryptography` (and the
standard library); tokens are signed by hand so that their exact shape is visible here.

Subcommands:
  keys       --dir D --users N --rotating N   RSA key pair + every token the workloads use
  fake-clerk --port-file F [--secret S]       GET /v1/users/{id}, GET /v1/users?user_id=… ; /_stats
  seed       --url U --dir D --posts N        users (via `me`, provisioned from the fake Clerk), posts
  otlp-sink  --port-file F                     accepts OTLP/HTTP exports (POST /v1/…); /_stats
  check      --url U --dir D --workload W --n N --phase before|after --out F
  spec       --workload W --dir D                 the request body file + the wrk script's settings
  row        --row R                              a row's workload, name and baseline row
  result     --row R --workload W --wrk F …       one run of one row: <results>/<row>-r<round>.json
  table      --results D --out F [--meta k=v …]   the medians of each row's rounds, both ratios
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ISSUER = "https://bench.clerk.local"
KID = "bench-key-1"
CREATED_AT = 1_716_883_200_000

# --------------------------------------------------------------------------------------------
# Workloads: the request body, which tokens, and what a correct answer looks like. The wrk
# script (bench/workload.lua) checks status + `expect` substring (+ absence of `reject`) on
# every response of the timed run; `check` below checks a sample in full, parsed as JSON.
# `baseline`: the workload of the bare stack (bench/baseline) each row is compared with — its
# own for (a), (b) and (c); the constant viewer (c) for the other requests with a token; the
# anonymous viewer (b) for the other anonymous ones.
# --------------------------------------------------------------------------------------------

WORKLOADS = {
    "a": {
        "baseline": "a",
        "name": "(a) anonymous { health }",
        "query": "{ health }",
        "tokens": None,
        "status": 200,
        "expect": '"health":"ok"',
        "reject": '"errors"',
    },
    "b": {
        "baseline": "b",
        "name": "(b) anonymous { viewer { userId } }",
        "query": "{ viewer { userId } }",
        "tokens": None,
        "status": 200,
        "expect": '"viewer":null',
        "reject": '"errors"',
    },
    "c": {
        "baseline": "c",
        "name": "(c) viewer, 1 valid token",
        "query": "{ viewer { userId } }",
        "tokens": "token-member.txt",
        "status": 200,
        "expect": '"userId":"user_bench_0001"',
        "reject": '"errors"',
    },
    "d": {
        "baseline": "c",
        "name": "(d) viewer, 10k tokens rotating",
        "query": "{ viewer { userId } }",
        "tokens": "tokens-rotating.txt",
        "status": 200,
        "expect": '"userId":"user_rot_',
        "reject": '"errors"',
    },
    "e": {
        "baseline": "c",
        "name": "(e) expired token (401)",
        "query": "{ viewer { userId } }",
        "tokens": "token-expired.txt",
        "status": 401,
        "expect": '"reason":"token_expired"',
        "reject": '"data"',
    },
    "f": {
        "baseline": "c",
        "name": "(f) { me { id email } } (DB)",
        "query": "{ me { id email } }",
        "tokens": "token-member.txt",
        "status": 200,
        "expect": '"email":"user_bench_0001@example.com"',
        "reject": '"errors"',
    },
    "g": {
        "baseline": "b",
        "name": "(g) 50 posts + authors (DataLoader)",
        # Anonymous: the author's public profile (email is personal data, readable by its owner
        # and admins only since issue 14).
        "query": "{ posts(first: 50) { nodes { id title author { id displayName } } } }",
        "tokens": None,
        "status": 200,
        "expect": '"id":"user_bench_',  # keys come back sorted, not in selection order
        "reject": '"errors"',
    },
    "h": {
        "baseline": "c",
        "name": "(h) @role adminNote, role from Clerk (cached)",
        "query": "{ adminNote { id } }",
        "tokens": "token-member.txt",
        "status": 200,
        "expect": '{"adminNote":{"id":"admin"}}',
        "reject": '"errors"',
    },
    # Trusted documents (README "Clients"): the TypeScript client's `Posts` operation, as its
    # codegen wrote it into the manifest, named by hash (i) to a server that loaded that
    # manifest, sent as text (j) to a server without one (parsed and checked at each request),
    # and sent as text (k) to the server with the manifest (hashed, then the parsed copy).
    "i": {
        "baseline": "b",
        "name": "(i) trusted document by hash: Posts(first: 10)",
        "query": None,  # the manifest's text, see `operation_text`
        "operation": "Posts",
        "variables": {"first": 10},
        "persisted": True,
        "trusted": True,
        "tokens": None,
        "status": 200,
        "expect": '"endCursor"',
        "reject": '"errors"',
    },
    "j": {
        "baseline": "b",
        "name": "(j) the same as text, no manifest",
        "query": None,
        "operation": "Posts",
        "variables": {"first": 10},
        "persisted": False,
        "trusted": False,
        "tokens": None,
        "status": 200,
        "expect": '"endCursor"',
        "reject": '"errors"',
    },
    "k": {
        "baseline": "b",
        "name": "(k) the same as text, listed in the manifest",
        "query": None,
        "operation": "Posts",
        "variables": {"first": 10},
        "persisted": False,
        "trusted": True,
        "tokens": None,
        "status": 200,
        "expect": '"endCursor"',
        "reject": '"errors"',
    },
}

# The persisted-documents manifest of the TypeScript client (`clients/generate` writes it).
CODEGEN_MANIFEST = Path(__file__).resolve().parent.parent / "clients/typescript/src/generated/persisted-documents.json"


def operation_text(name: str) -> str:
    """The manifest's document whose operation is `name`."""
    for text in json.loads(CODEGEN_MANIFEST.read_text()).values():
        if any(f"{kind} {name}{after}" in text for kind in ("query", "mutation", "subscription") for after in " ("):
            return text
    raise SystemExit(f"no operation {name} in {CODEGEN_MANIFEST}")


def query_of(spec: dict) -> str:
    return spec["query"] if spec["query"] is not None else operation_text(spec["operation"])


def request_body(spec: dict) -> dict:
    """What a workload POSTs: the document's text, or (persisted) its sha256 alone, as the
    TypeScript client's `persisted: true` sends it."""
    text = query_of(spec)
    body: dict = {}
    if spec.get("persisted"):
        sha = hashlib.sha256(text.encode()).hexdigest()
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    else:
        body["query"] = text
    if "variables" in spec:
        body["variables"] = spec["variables"]
    return body


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def user_id(i: int) -> str:
    return f"user_bench_{i:04d}"


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------


def mint(private_key, claims: dict) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT", "kid": KID}
    signing_input = f"{b64u(compact(header))}.{b64u(compact(claims))}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64u(signature)}"


def session_claims(sub: str, sid: str, now: int, iat: int | None = None, ttl: int = 3600) -> dict:
    iat = now if iat is None else iat
    # Clerk v2 session token shape (ARCHITECTURE §4). No `metadata`: roles come from Clerk's API.
    return {
        "sub": sub,
        "sid": sid,
        "iss": ISSUER,
        "iat": iat,
        "nbf": iat,
        # From iat: a token issued ten minutes ago expires ten minutes sooner, so that no token
        # lives longer than CLERK_MAX_TOKEN_LIFETIME_SECS (an hour by default) allows.
        "exp": iat + ttl,
        "v": 2,
    }


_worker_key = None


def _init_worker(pem: bytes) -> None:
    global _worker_key
    from cryptography.hazmat.primitives import serialization

    _worker_key = serialization.load_pem_private_key(pem, password=None)


def _mint_batch(claims: list[dict]) -> list[str]:
    return [mint(_worker_key, c) for c in claims]


def cmd_keys(args) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (out / "public.pem").write_bytes(public_pem)
    now = int(time.time())

    claims = [session_claims(user_id(i), f"sess_bench_{i:04d}", now) for i in range(1, args.users + 1)]
    # Expired an hour ago, with a good signature: refused for its time claim only.
    claims.append(session_claims(user_id(1), "sess_bench_expired", now - 7200, ttl=3600))
    # Distinct sub, sid and iat per token (iat spread over the last ten minutes).
    claims += [
        session_claims(f"user_rot_{i:05d}", f"sess_rot_{i:05d}", now, iat=now - (i % 600))
        for i in range(args.rotating)
    ]
    # RSA signing is the slow part (a millisecond or two per token): one process per CPU.
    workers = max(1, min(len(os.sched_getaffinity(0)), 8))
    chunk = -(-len(claims) // (workers * 4))
    batches = [claims[i:i + chunk] for i in range(0, len(claims), chunk)]
    with concurrent.futures.ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(private_pem,)) as pool:
        tokens = [t for batch in pool.map(_mint_batch, batches) for t in batch]

    users = tokens[: args.users]
    expired = tokens[args.users]
    rotating = tokens[args.users + 1:]
    # One token per seeded user (seeding); (c), (f), (h) use user 1's, which has no role claim.
    (out / "tokens-users.txt").write_text("\n".join(users) + "\n")
    (out / "token-member.txt").write_text(users[0] + "\n")
    (out / "token-expired.txt").write_text(expired + "\n")
    (out / "tokens-rotating.txt").write_text("\n".join(rotating) + "\n")
    print(
        f"key pair + {len(tokens)} tokens in {time.monotonic() - started:.1f} s ({workers} processes)",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------------------------
# fake Clerk Backend API
# --------------------------------------------------------------------------------------------


def clerk_user_json(uid: str) -> dict:
    """A user as Clerk's Backend API returns it (the shape of tests/api/fake_clerk.rs), with
    `public_metadata.role = "admin"` for everyone."""
    email_id = f"idn_{uid}"
    return {
        "id": uid,
        "object": "user",
        "username": None,
        "first_name": "Ada",
        "last_name": f"Lovelace {uid}",
        "image_url": f"https://img.clerk.com/{uid}.png",
        "profile_image_url": f"https://images.clerk.dev/{uid}.png",
        "has_image": True,
        "primary_email_address_id": email_id,
        "primary_phone_number_id": None,
        "primary_web3_wallet_id": None,
        "password_enabled": True,
        "two_factor_enabled": False,
        "email_addresses": [
            {
                "id": email_id,
                "object": "email_address",
                "email_address": f"{uid}@example.com",
                "reserved": False,
                "verification": {"object": "verification_email_code", "status": "verified",
                                 "strategy": "email_code", "attempts": 1, "expire_at": CREATED_AT + 600_000},
                "linked_to": [],
                "created_at": CREATED_AT,
                "updated_at": CREATED_AT,
            }
        ],
        "phone_numbers": [],
        "web3_wallets": [],
        "external_accounts": [],
        "public_metadata": {"role": "admin"},
        "private_metadata": {},
        "unsafe_metadata": {},
        "external_id": None,
        "last_sign_in_at": CREATED_AT + 3_600_000,
        "banned": False,
        "locked": False,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT + 60_000,
    }


def cmd_fake_clerk(args) -> None:
    stats = {"users_calls": 0, "unauthorized": 0, "ids": 0}
    lock = threading.Lock()
    secret = args.secret

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):  # quiet
            pass

        def reply(self, status: int, value) -> None:
            body = compact(value)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/_stats":
                with lock:
                    return self.reply(200, dict(stats))
            if not url.path.startswith("/v1/users"):
                return self.reply(404, {"errors": [{"code": "resource_not_found"}]})
            with lock:
                stats["users_calls"] += 1
            if self.headers.get("Authorization") != f"Bearer {secret}":
                with lock:
                    stats["unauthorized"] += 1
                return self.reply(401, {"errors": [{"code": "clerk_key_invalid"}]})
            if url.path == "/v1/users":
                ids = urllib.parse.parse_qs(url.query).get("user_id", [])
                with lock:
                    stats["ids"] += len(ids)
                return self.reply(200, [clerk_user_json(i) for i in ids if i.startswith("user_")])
            uid = url.path[len("/v1/users/"):]
            if url.path.startswith("/v1/users/") and uid.startswith("user_") and "/" not in uid:
                with lock:
                    stats["ids"] += 1
                return self.reply(200, clerk_user_json(uid))
            return self.reply(404, {"errors": [{"code": "resource_not_found"}]})

    serve_with_port_file(ThreadingHTTPServer(("127.0.0.1", 0), Handler), args.port_file)


# --------------------------------------------------------------------------------------------
# OTLP sink: where the server's traces go when it exports them (bench/README.md, "Production
# configuration"), so that the exporter does the work it does in production without a collector.
# --------------------------------------------------------------------------------------------


def cmd_otlp_sink(args) -> None:
    stats = {"exports": 0, "bytes": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):  # quiet
            pass

        def do_GET(self):  # noqa: N802
            with lock:
                body = compact(stats)
            self.send_response(200 if self.path == "/_stats" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            # OTLP/HTTP: an empty Export*ServiceResponse (all fields default) is an empty body.
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            with lock:
                stats["exports"] += 1
                stats["bytes"] += length
            self.send_response(200)
            self.send_header("Content-Type", self.headers.get("Content-Type") or "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    serve_with_port_file(ThreadingHTTPServer(("127.0.0.1", 0), Handler), args.port_file)


def serve_with_port_file(server: ThreadingHTTPServer, port_file: str) -> None:
    """Writes the port (atomically) once listening, serves until SIGTERM."""
    server.daemon_threads = True
    port_file = Path(port_file)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.rename(port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------------------------
# HTTP client (keep-alive, one connection per thread)
# --------------------------------------------------------------------------------------------


class Client:
    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, query: str, token: str | None = None, variables: dict | None = None,
             forwarded_for: str | None = None):
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.send(body, token, forwarded_for)

    def send(self, body: dict, token: str | None = None, forwarded_for: str | None = None):
        headers = {"Content-Type": "application/json"}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(2):
            try:
                self.conn.request("POST", "/graphql", body=compact(body), headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, dict(response.getheaders()), raw
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def read_tokens(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]


# --------------------------------------------------------------------------------------------
# seed
# --------------------------------------------------------------------------------------------


def post_body(n: int, chars: int) -> str:
    """About 180 characters by default; `chars` long when given (posts allow up to 20,000)."""
    sentence = f"Body of bench post {n}. "
    if chars <= 0:
        return sentence * 8
    return (sentence * (chars // len(sentence) + 1))[:chars]


def cmd_seed(args) -> None:
    tokens = read_tokens(Path(args.dir) / "tokens-users.txt")
    local = threading.local()
    started = time.monotonic()

    def client() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(args.url)
        return local.client

    def provision(i_token):
        i, token = i_token
        status, _, raw = client().post("{ me { id email } }", token)
        body = json.loads(raw)
        me = (body.get("data") or {}).get("me")
        if status != 200 or body.get("errors") or not me or me["id"] != user_id(i + 1):
            raise SystemExit(f"seed: provisioning {user_id(i + 1)} failed: {status} {raw[:300]!r}")

    def create_post(n: int):
        token = tokens[n % len(tokens)]
        status, _, raw = client().post(
            "mutation($input: CreatePostInput!) { createPost(input: $input) { id published } }",
            token,
            {"input": {"title": f"Bench post {n}", "body": post_body(n, args.body_chars), "published": True}},
        )
        body = json.loads(raw)
        post = (body.get("data") or {}).get("createPost")
        if status != 200 or body.get("errors") or not post or post["published"] is not True:
            raise SystemExit(f"seed: createPost {n} failed: {status} {raw[:300]!r}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(provision, enumerate(tokens)))
        list(pool.map(create_post, range(args.posts)))
    print(
        f"seeded {len(tokens)} users and {args.posts} published posts through GraphQL "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------------------------
# check: a sample of full answers, parsed
# --------------------------------------------------------------------------------------------


def token_sub(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def verify(workload: str, token: str | None, status: int, headers: dict, raw: bytes) -> str | None:
    """None when the answer is right, else what is wrong."""
    try:
        body = json.loads(raw)
    except ValueError:
        return f"status {status}, body is not JSON: {raw[:200]!r}"
    spec = WORKLOADS[workload]
    if status != spec["status"]:
        return f"status {status} (expected {spec['status']}), body {raw[:300]!r}"
    if workload == "e":
        errors = body.get("errors") or [{}]
        ext = errors[0].get("extensions") or {}
        if ext.get("reason") != "token_expired" or ext.get("code") != "UNAUTHENTICATED":
            return f"401 but extensions {ext!r}"
        if "data" in body:
            return "401 with a data member"
        www = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
        if 'error="invalid_token"' not in www:
            return f"WWW-Authenticate {www!r}"
        return None
    if body.get("errors"):
        return f"errors {json.dumps(body['errors'])[:300]}"
    data = body.get("data") or {}
    if workload == "a":
        return None if data == {"health": "ok"} else f"data {data!r}"
    if workload == "b":
        return None if data == {"viewer": None} else f"data {data!r}"
    if workload in ("c", "d"):
        want = {"viewer": {"userId": token_sub(token)}}
        return None if data == want else f"data {data!r}, expected {want!r}"
    if workload == "f":
        sub = token_sub(token)
        want = {"me": {"id": sub, "email": f"{sub}@example.com"}}
        return None if data == want else f"data {data!r}, expected {want!r}"
    if workload == "g":
        nodes = ((data.get("posts") or {}).get("nodes")) or []
        if len(nodes) != 50:
            return f"{len(nodes)} posts, expected 50"
        if len({n["id"] for n in nodes}) != 50:
            return "duplicate post ids"
        for n in nodes:
            author = n.get("author")
            if not author or not author["id"].startswith("user_bench_") or not author.get("displayName"):
                return f"post {n['id']} author {author!r}"
            if not n["title"].startswith("Bench post "):
                return f"post {n['id']} title {n['title']!r}"
        if len({n["author"]["id"] for n in nodes}) < 2:
            return "every post has the same author: the seeding did not spread authors"
        return None
    if workload == "h":
        want = {"adminNote": {"id": "admin"}}
        return None if data == want else f"data {data!r}, expected {want!r}"
    if workload in ("i", "j", "k"):
        posts = data.get("posts") or {}
        nodes = posts.get("nodes") or []
        if len(nodes) != 10 or len({n["id"] for n in nodes}) != 10:
            return f"{len(nodes)} distinct posts, expected 10"
        for n in nodes:
            if not n["title"].startswith("Bench post ") or not n["published"]:
                return f"post {n['id']} {n['title']!r}"
            if not (n.get("author") or {}).get("id", "").startswith("user_bench_"):
                return f"post {n['id']} author {n.get('author')!r}"
        if not (posts.get("pageInfo") or {}).get("hasNextPage"):
            return f"pageInfo {posts.get('pageInfo')!r}"
        return None
    return f"unknown workload {workload}"


def cmd_check(args) -> None:
    spec = WORKLOADS[args.workload]
    tokens = read_tokens(Path(args.dir) / spec["tokens"]) if spec["tokens"] else [None]
    rng = random.Random(f"{args.workload}-{args.phase}")
    client = Client(args.url)
    failures = []
    for _ in range(args.n):
        token = rng.choice(tokens)
        status, headers, raw = client.send(request_body(spec), token)
        problem = verify(args.workload, token, status, headers, raw)
        if problem:
            failures.append(problem)
    result = {"phase": args.phase, "n": args.n, "failed": len(failures), "first_failures": failures[:3]}
    Path(args.out).write_text(json.dumps(result) + "\n")
    if failures:
        print(f"  check {args.phase}: {len(failures)}/{args.n} WRONG, e.g. {failures[0]}", file=sys.stderr)
        sys.exit(1)
    print(f"  check {args.phase}: {args.n}/{args.n} answers correct", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# table
# --------------------------------------------------------------------------------------------


def fmt_ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def meta_cpu(args) -> str:
    for kv in args.meta:
        if kv.startswith("server=CPU "):
            return kv.split(" ", 1)[1]
    return "0"


# A row is one workload on one server: the template on SQLite (`a`…`k`), the template on
# PostgreSQL (`f-pg`, `g-pg`), another commit's build (`g@b3efb67`: that commit's own (g), as its
# bench/bench.py defined it), or the bare stack of bench/baseline (`base-a`, `base-b`, `base-c`).
BASELINE_NAMES = {
    "a": "{ health }",
    "b": "{ viewer { userId } }, anonymous",
    "c": "{ viewer { userId } }, a token: constant viewer, not verified",
}


def row_workload(row: str) -> str:
    return row.removeprefix("base-").split("-")[0].split("@")[0]


def row_name(row: str) -> str:
    w = row_workload(row)
    name = WORKLOADS[w]["name"]
    label = name.split(") ", 1)[1]
    if row.startswith("base-"):
        return f"baseline ({w}) {BASELINE_NAMES[w]}"
    if row.endswith("-pg"):
        return f"({row}) {label.replace(' (DB)', '')} on PostgreSQL"
    if "@" in row:
        return f"({w}) at commit {row.split('@', 1)[1]} (its own ({w}))"
    return name


def row_order(row: str) -> tuple:
    letters = list(WORKLOADS)
    variant = 3 if row.startswith("base-") else 2 if "@" in row else 1 if row.endswith("-pg") else 0
    return (variant == 3, letters.index(row_workload(row)), variant)


def median_of(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def paired_ratio(rounds: dict, other: dict | None, key: str) -> float | None:
    """The median over rounds of this row's `key` ÷ the other row's in the same round (the rows
    of a round ran one after the other, so a pair saw the same machine load)."""
    if not other:
        return None
    ratios = [r[key] / other[n][key] for n, r in rounds.items() if n in other and other[n].get(key) and r.get(key)]
    return median_of(ratios) if ratios else None


def summarise(rounds: dict) -> dict:
    """One row from its rounds: medians, errors summed, the highest peak RSS."""
    runs = [r for r in rounds.values() if "rps" in r]
    if not runs:
        return {"error": next(iter(rounds.values())).get("error", "unknown failure")}
    out = {k: median_of([r[k] for r in runs]) for k in ("rps", "p50_us", "p99_us", "server_cpu", "wrk_cpu", "requests_per_cpu_s")}
    out["errors"] = sum(r["errors"] for r in runs)
    out["error_detail"] = "; ".join(f"round {r['round']}: {r['error_detail']}" for r in runs if r["errors"])
    out["vm_hwm_kb"] = max(r["vm_hwm_kb"] for r in runs)
    out["checks_ok"] = len(runs) == len(rounds) and all(r.get("checks_ok", False) for r in runs)
    out["check_detail"] = "; ".join(f"round {r['round']}: {r.get('check_detail')}" for r in runs if not r.get("checks_ok"))
    out["clerk_calls"] = median_of([r.get("clerk_calls", 0) for r in runs])
    out["by_round"] = [r["rps"] for r in sorted(runs, key=lambda r: r["round"])]
    first = [r["first_pass"] for r in runs if r.get("first_pass")]
    if first:
        out["first_pass"] = {k: median_of([f[k] for f in first]) for k in ("requests", "rps", "p50_us", "p99_us")}
        out["first_pass"]["errors"] = sum(f["errors"] for f in first)
    return out


def cmd_table(args) -> None:
    by_row: dict[str, dict] = {}
    for path in Path(args.results).glob("result-*.json"):
        r = json.loads(path.read_text())
        by_row.setdefault(r["row"], {})[r["round"]] = r
    rows = sorted(by_row, key=row_order)
    summary = {row: summarise(by_row[row]) for row in rows}

    def ratio_text(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "–"

    lines = [
        "| workload | requests/s | p50 | p99 | errors | peak RSS | ratio to (b) | ratio to baseline | server CPU "
        "| requests/CPU-s | ratio/CPU-s to (b) | ratio/CPU-s to baseline | requests/s by round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes, starved, ratios = [], [], {}
    for row in rows:
        r, name = summary[row], row_name(row)
        if "rps" not in r:
            lines.append(f"| {name} | – | – | – | – | – | – | – | – | – | – | – | – |")
            notes.append(f"{name}: not measured ({r['error']})")
            continue
        baseline_row = None if row.startswith("base-") else f"base-{WORKLOADS[row_workload(row)]['baseline']}"
        to_b = None if row.startswith("base-") else by_row.get("b")
        to_base = by_row.get(baseline_row) if baseline_row else None
        ratios[row] = {
            "b": paired_ratio(by_row[row], to_b, "rps"),
            "base": paired_ratio(by_row[row], to_base, "rps"),
            "b_cpu": paired_ratio(by_row[row], to_b, "requests_per_cpu_s"),
            "base_cpu": paired_ratio(by_row[row], to_base, "requests_per_cpu_s"),
        }
        errors = r["errors"]
        err_text = f"{errors}" if errors == 0 else f"**{errors}** ({r['error_detail']})"
        if not r["checks_ok"]:
            name += " **CHECK FAILED**"
            notes.append(f"{row_name(row)}: correctness check failed: {r['check_detail']}")
        rss = f"{r['vm_hwm_kb'] / 1024:.1f} MiB" if r.get("vm_hwm_kb") else "–"
        rounds_text = " / ".join(f"{x:,.0f}" for x in r["by_round"])
        q = ratios[row]
        lines.append(
            f"| {name} | {r['rps']:,.0f} | {fmt_ms(r['p50_us'])} | {fmt_ms(r['p99_us'])} | {err_text} | {rss} "
            f"| {ratio_text(q['b'])} | {ratio_text(q['base'])} | {r['server_cpu']:.0%} | {r['requests_per_cpu_s']:,.0f} "
            f"| {ratio_text(q['b_cpu'])} | {ratio_text(q['base_cpu'])} | {rounds_text} |"
        )
        if r["server_cpu"] < 0.9:
            starved.append(row)
        if r["wrk_cpu"] > 0.9:
            notes.append(f"{row_name(row)}: wrk used {r['wrk_cpu']:.0%} of its CPU: the load generator may be the limit")
    meta = dict(kv.split("=", 1) for kv in args.meta)
    header = [
        f"# clerk-graphql load benchmark — {meta.pop('date', time.strftime('%Y-%m-%d %H:%M:%S %Z'))}",
        "",
        "  ".join(f"{k}: {v}" for k, v in meta.items()),
        "",
    ]
    footer = [
        "",
        "Each row: the median of its rounds (a fresh server per row and round; the rows of a round one after the "
        "other, template and baseline interleaved). Ratios: the median over rounds of the row's value ÷ the other "
        "row's in the same round.",
        "ratio to (b) = requests/s ÷ requests/s of the template's anonymous `{ viewer { userId } }` (b); ratio to "
        "baseline = requests/s ÷ requests/s of the bare stack (bench/baseline: async-graphql + axum, nothing else) "
        "on the matching request: (a) ÷ baseline (a), (b) and the other anonymous rows ÷ baseline (b), (c) and the "
        "other rows with a token ÷ baseline (c), whose viewer is constant.",
        "errors = socket errors + timeouts + responses whose status or body was not the expected one "
        "(for (e) the expected answer is the 401), over all rounds.",
        "peak RSS = VmHWM of the server process, which served only that workload (a fresh process per workload; "
        "the highest of the rounds).",
        "server CPU = share of its CPU the server used while measured; requests/CPU-s = requests per second of "
        "server CPU time, steadier than requests/s when other processes compete for the CPU; "
        "ratio/CPU-s = the same ratios computed from requests/CPU-s.",
    ]
    for row in rows:
        fp = summary[row].get("first_pass")
        if fp:
            footer.append(
                f"({row}) before its warm-up, one pass over its rotating tokens, none seen before, each "
                f"verified in full (RS256 + claims; {fp['requests']:,.0f} requests): {fp['rps']:,.0f} requests/s, "
                f"p50 {fmt_ms(fp['p50_us'])}, p99 {fmt_ms(fp['p99_us'])}, errors {fp['errors']}; the measured run "
                "then hits the verified-token cache."
            )
    calls = [f"({row}) {summary[row]['clerk_calls']:.0f}" for row in rows if summary[row].get("clerk_calls")]
    if calls:
        footer.append("Clerk Backend API calls during the workload (fake Clerk, median of the rounds): " + ", ".join(calls) + ".")
    targets = []
    for row, what in (("a", "anonymous `{ health }`"), ("c", "`{ viewer { userId } }` with one valid token")):
        value = ratios.get(row, {}).get("base")
        if value is not None:
            targets.append(f"{what} ÷ the baseline's: {value:.2f} ({'met' if value >= 0.85 else 'not met'}: ≥ 0.85)")
    compare = next((row for row in rows if row.startswith("g@")), None)
    if "g" in ratios and compare and "rps" in summary[compare]:
        value = paired_ratio(by_row["g"], by_row[compare], "rps")
        if value is not None:
            targets.append(f"(g) ÷ (g) at commit {compare[2:]}: {value:.2f} ({'met' if value >= 2 else 'not met'}: ≥ 2)")
    if "g" in ratios:
        p99 = summary["g"]["p99_us"]
        targets.append(f"(g) p99 {fmt_ms(p99)} ({'met' if p99 < 10_000 else 'not met'}: under 10 ms)")
    if targets:
        footer.append("Targets of issue 22: " + "; ".join(targets) + ".")
    if starved:
        footer.append(
            f"Server CPU below 90 % for {', '.join(f'({row})' for row in starved)}: other processes used CPU "
            f"{meta_cpu(args)}, or the server waited for wrk (short of its CPU): compare with requests/CPU-s and "
            "ratio/CPU-s, or rerun on a quieter machine."
        )
    footer += [f"Skipped: {line}" for line in args.skipped]
    if notes:
        footer += ["", "Problems:"] + [f"- {n}" for n in notes]
    text = "\n".join(header + lines + footer) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


def cmd_result(args) -> None:
    """Merges the wrk output, VmHWM and the checks of one row's round into one JSON file (--out)."""
    wrk = json.loads(Path(args.wrk).read_text())
    socket_errors = wrk["connect"] + wrk["read"] + wrk["write"] + wrk["timeout"]
    non_2xx = wrk["status"] if WORKLOADS[args.workload]["status"] < 300 else 0
    errors = socket_errors + max(wrk["mismatches"], non_2xx)
    detail = []
    if socket_errors:
        detail.append(f"socket {wrk['connect']}c/{wrk['read']}r/{wrk['write']}w/{wrk['timeout']}t")
    if wrk["mismatches"]:
        detail.append(f"{wrk['mismatches']} wrong answers")
    if non_2xx:
        detail.append(f"{non_2xx} non-2xx")
    checks = [json.loads(Path(p).read_text()) for p in args.checks if Path(p).exists()]
    checks_ok = len(checks) == 2 and all(c["failed"] == 0 for c in checks)
    check_detail = "; ".join(
        f"{c['phase']}: {c['failed']}/{c['n']} wrong, e.g. {c['first_failures'][:1]}" for c in checks if c["failed"]
    ) or ("missing" if len(checks) != 2 else "")
    out = {
        "row": args.row,
        "round": args.round,
        "workload": args.workload,
        "rps": wrk["requests"] / (wrk["duration_us"] / 1e6),
        "requests": wrk["requests"],
        "p50_us": wrk["p50_us"],
        "p99_us": wrk["p99_us"],
        "max_us": wrk["max_us"],
        "errors": errors,
        "error_detail": ", ".join(detail),
        "non_2xx": wrk["status"],
        "vm_hwm_kb": args.vm_hwm_kb,
        "checks_ok": checks_ok,
        "check_detail": check_detail,
        "clerk_calls": args.clerk_calls,
        # Share of one CPU the server (and wrk) used during the measured run: below ~0.9 for the
        # server means it was starved (a busy machine) or waiting, not CPU-bound.
        "server_cpu": args.server_cpu_s / (wrk["duration_us"] / 1e6),
        "wrk_cpu": args.wrk_cpu_s / (wrk["duration_us"] / 1e6),
        "requests_per_cpu_s": wrk["requests"] / args.server_cpu_s if args.server_cpu_s else 0.0,
    }
    if args.first_pass:
        first = json.loads(Path(args.first_pass).read_text())
        out["first_pass"] = {
            "requests": first["requests"],
            "rps": first["requests"] / (first["duration_us"] / 1e6),
            "p50_us": first["p50_us"],
            "p99_us": first["p99_us"],
            "errors": first["connect"] + first["read"] + first["write"] + first["timeout"] + first["mismatches"],
        }
        out["errors"] += out["first_pass"]["errors"]
        if out["first_pass"]["errors"]:
            out["error_detail"] += f" (first pass: {out['first_pass']['errors']})"
    Path(args.out).write_text(json.dumps(out) + "\n")
    if "first_pass" in out:
        fp = out["first_pass"]
        print(f"  first pass over {fp['requests']:,} new tokens: {fp['rps']:,.0f} requests/s, "
              f"p50 {fmt_ms(fp['p50_us'])}, p99 {fmt_ms(fp['p99_us'])}, errors {fp['errors']}", file=sys.stderr)
    print(
        f"  {out['rps']:,.0f} requests/s, p50 {fmt_ms(out['p50_us'])}, p99 {fmt_ms(out['p99_us'])}, "
        f"errors {errors}, VmHWM {args.vm_hwm_kb / 1024:.1f} MiB, Clerk calls {args.clerk_calls}, "
        f"CPU server {out['server_cpu']:.0%} wrk {out['wrk_cpu']:.0%}",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keys")
    p.add_argument("--dir", required=True)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rotating", type=int, default=10_000)
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("fake-clerk")
    p.add_argument("--port-file", required=True)
    p.add_argument("--secret", default="sk_test_bench")
    p.set_defaults(func=cmd_fake_clerk)

    p = sub.add_parser("otlp-sink")
    p.add_argument("--port-file", required=True)
    p.set_defaults(func=cmd_otlp_sink)

    p = sub.add_parser("seed")
    p.add_argument("--url", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--posts", type=int, default=500)
    p.add_argument("--body-chars", type=int, default=0)
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("check")
    p.add_argument("--url", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--phase", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("spec")
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("row")
    p.add_argument("--row", required=True)
    p.set_defaults(func=cmd_row)

    p = sub.add_parser("result")
    p.add_argument("--row", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--workload", required=True)
    p.add_argument("--wrk", required=True)
    p.add_argument("--vm-hwm-kb", type=int, default=0)
    p.add_argument("--clerk-calls", type=int, default=0)
    p.add_argument("--server-cpu-s", type=float, default=0.0)
    p.add_argument("--wrk-cpu-s", type=float, default=0.0)
    p.add_argument("--first-pass")
    p.add_argument("--checks", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_result)

    p = sub.add_parser("table")
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", nargs="*", default=[])
    p.add_argument("--skipped", nargs="*", default=[], help="rows not run, and why")
    p.set_defaults(func=cmd_table)

    args = parser.parse_args()
    args.func(args)


def cmd_row(args) -> None:
    """Prints shell assignments: the row's workload, its name in the table, and the baseline row
    it is compared with (none for a baseline row)."""
    import shlex

    w = row_workload(args.row)
    baseline = "" if args.row.startswith("base-") else f"base-{WORKLOADS[w]['baseline']}"
    for name, value in [("ROW_WORKLOAD", w), ("ROW_NAME", row_name(args.row)), ("ROW_BASELINE", baseline)]:
        print(f"{name}={shlex.quote(value)}")


def cmd_spec(args) -> None:
    """Writes <dir>/body-<w>.json and prints shell assignments for the wrk script's environment."""
    spec = WORKLOADS[args.workload]
    body_file = Path(args.dir) / f"body-{args.workload}.json"
    body_file.write_bytes(compact(request_body(spec)))
    tokens = str(Path(args.dir) / spec["tokens"]) if spec["tokens"] else ""
    manifest = ""
    if spec.get("trusted"):
        # The workload's document alone: the server enforces it (production's default).
        text = query_of(spec)
        manifest_file = Path(args.dir) / "trusted-documents.json"
        manifest_file.write_text(json.dumps({hashlib.sha256(text.encode()).hexdigest(): text}))
        manifest = str(manifest_file)
    import shlex

    for name, value in [
        ("BENCH_NAME", spec["name"]),
        ("BENCH_BODY_FILE", str(body_file)),
        ("BENCH_TOKENS_FILE", tokens),
        ("BENCH_EXPECT_STATUS", str(spec["status"])),
        ("BENCH_EXPECT", spec["expect"]),
        ("BENCH_REJECT", spec["reject"]),
        ("BENCH_TRUSTED_DOCUMENTS", manifest),
    ]:
        print(f"{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
