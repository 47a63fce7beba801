#!/usr/bin/env python3
"""Helpers of `scripts/soak` (bench/README.md, "Soak"): tokens, the webhook sender and the report.
Shares the key handling, token shape and fake Clerk of `bench.py`.

Subcommands:
  tokens   --dir D --users N --sessions S      valid tokens (N users x S sessions), expired, forged
  seed     --url U --dir D --users N           every user provisioned once (`me`)
  webhooks --url U [U …] --secret whsec_… --users N --rate R --until-file F --out F
  report   --wrk F --rss F --webhooks F --log F [F …] --out F [--meta k=v …]

Several URLs (replicas): webhook deliveries go to each in turn. Several logs: one per replica.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the sibling module; this file is run as a script)

# The acceptance criteria of the soak (issue "Reliability"): checked by `report`.
MAX_P99_MS = 20.0
RSS_DRIFT = 0.10  # the last sample within 10 % of the sample at minute 2


def soak_user(i: int) -> str:
    return f"user_soak_{i:05d}"


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


def cmd_tokens(args) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    out = Path(args.dir)
    started = time.monotonic()
    keys = []
    for _ in range(2):  # ours, and a stranger's for forged tokens (right kid, wrong key)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys.append(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    ours = serialization.load_pem_private_key(keys[0], password=None)
    (out / "public.pem").write_bytes(ours.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    now = int(time.time())
    # Line k (from 0) belongs to user k % users: session s of every user, then session s + 1.
    # The tokens live long enough for the whole soak (a real one lives 60 s; the cache treats
    # both alike, and the bound is what the soak tests).
    # Roles in the session token (the README's recommended session-token customisation): one
    # user in ten is an admin. A role read from Clerk's API instead costs a Backend API round trip
    # per user a minute; scripts/bench (h) measures that path.
    valid = [
        dict(bench.session_claims(soak_user(u), f"sess_soak_{s:02d}_{u:05d}", now, ttl=args.ttl),
             metadata={"role": "admin" if u % 10 == 0 else "member"})
        for s in range(args.sessions)
        for u in range(args.users)
    ]
    expired = [
        bench.session_claims(soak_user(u), f"sess_soak_old_{u:05d}", now - 7200, ttl=3600)
        for u in range(min(args.users, 1000))
    ]
    forged = [
        bench.session_claims(soak_user(u), f"sess_soak_forged_{u:05d}", now, ttl=args.ttl)
        for u in range(min(args.users, 1000))
    ]
    workers = max(1, min(len(os.sched_getaffinity(0)), 8))

    def mint_all(pem: bytes, claims: list[dict]) -> list[str]:
        chunk = max(1, -(-len(claims) // (workers * 4)))
        batches = [claims[i:i + chunk] for i in range(0, len(claims), chunk)]
        with concurrent.futures.ProcessPoolExecutor(
                workers, initializer=bench._init_worker, initargs=(pem,)) as pool:
            return [t for batch in pool.map(bench._mint_batch, batches) for t in batch]

    (out / "tokens-valid.txt").write_text("\n".join(mint_all(keys[0], valid)) + "\n")
    (out / "tokens-expired.txt").write_text("\n".join(mint_all(keys[0], expired)) + "\n")
    (out / "tokens-forged.txt").write_text("\n".join(mint_all(keys[1], forged)) + "\n")
    print(f"{len(valid)} valid tokens ({args.users} users x {args.sessions} sessions), "
          f"{len(expired)} expired, {len(forged)} forged, in {time.monotonic() - started:.0f} s "
          f"({workers} processes)", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# seed: every user provisioned once, as `sync-users` or the `user.created` webhook would have done
# --------------------------------------------------------------------------------------------


def cmd_seed(args) -> None:
    """`{ me { id } }` with each user's first token: the server provisions the row from the fake
    Clerk. A real deployment has its users already (webhooks, `sync-users`); without this, the
    first minutes of the soak would measure 10,000 first-time Backend API calls."""
    tokens = Path(args.dir, "tokens-valid.txt").read_text().splitlines()[: args.users]
    local = threading.local()
    started = time.monotonic()

    def provision(u: int) -> None:
        if not hasattr(local, "client"):
            local.client = bench.Client(args.url)
        # From the user's own address, as in soak.lua (the server trusts 127.0.0.1 as a proxy).
        address = f"10.{u // 256 % 256}.{u % 256}.1"
        status, _, raw = local.client.post("{ me { id } }", tokens[u], forwarded_for=address)
        if status != 200 or f'"id":"{soak_user(u)}"' not in raw.decode():
            raise SystemExit(f"seed: provisioning {soak_user(u)} failed: {status} {raw[:300]!r}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(provision, range(args.users)))
    print(f"{args.users} users provisioned in {time.monotonic() - started:.0f} s", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# webhooks: Svix-signed Clerk events at a steady rate
# --------------------------------------------------------------------------------------------


def svix_headers(secret: str, msg_id: str, body: bytes, timestamp: int) -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": f"v1,{signature}",
    }


def user_event(kind: str, uid: str, now_ms: int) -> dict:
    if kind == "user.deleted":
        data = {"deleted": True, "id": uid, "object": "user"}
    else:
        data = bench.clerk_user_json(uid)
        data["updated_at"] = now_ms
        data["first_name"] = f"Soak {now_ms}"
    return {"data": data, "object": "event", "type": kind, "timestamp": now_ms}


def cmd_webhooks(args) -> None:
    """Deliveries until --until-file exists: `user.updated` of the soak's users (their rows change
    and their cached Clerk profile is evicted), `user.created` then `user.deleted` of users only
    webhooks know, and one in ten a redelivery of an earlier message (a duplicate: 204, applied
    once). Signed when sent, so the timestamps stay within the server's tolerance. With several
    URLs (replicas), each delivery goes to the next one, as a load balancer would send them."""
    targets = [urllib.parse.urlsplit(url) for url in args.url]
    conns = [http.client.HTTPConnection(t.hostname, t.port, timeout=30) for t in targets]
    rng = random.Random(7)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    sent, created, history = 0, [], []
    stop = Path(args.until_file)
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    while not stop.exists():
        now_ms = int(time.time() * 1000)
        roll = rng.random()
        if history and roll < 0.1:
            msg_id, body = rng.choice(history)
        else:
            if roll < 0.7:
                event = user_event("user.updated", soak_user(rng.randrange(args.users)), now_ms)
            elif roll < 0.85 or not created:
                uid = f"user_soakhook_{sent:06d}"
                created.append(uid)
                event = user_event("user.created", uid, now_ms)
            else:
                event = user_event("user.deleted", created.pop(rng.randrange(len(created))), now_ms)
            msg_id = f"msg_soak_{sent:07d}"
            body = bench.compact(event)
            history.append((msg_id, body))
            history = history[-1000:]
        # Svix delivers from a handful of addresses.
        headers = svix_headers(args.secret, msg_id, body, int(time.time()))
        headers["X-Forwarded-For"] = f"192.0.2.{sent % 4 + 1}"
        target = sent % len(conns)
        started = time.monotonic()
        try:
            conns[target].request("POST", "/webhooks/clerk", body=body, headers=headers)
            response = conns[target].getresponse()
            response.read()
            status = str(response.status)
        except (OSError, http.client.HTTPException) as error:
            status = f"socket error ({type(error).__name__})"
            conns[target].close()
            conns[target] = http.client.HTTPConnection(
                targets[target].hostname, targets[target].port, timeout=30)
        latencies.append((time.monotonic() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        sent += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    Path(args.out).write_text(json.dumps({"sent": sent, "statuses": statuses, "p99_ms": p99}))


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def cmd_report(args) -> None:
    wrk = json.loads(Path(args.wrk).read_text())
    hooks = json.loads(Path(args.webhooks).read_text())
    # Lines "seconds-since-the-measured-start rss-kb…" (one column per replica): every 10 s.
    rss = [[int(x) for x in line.split()] for line in Path(args.rss).read_text().splitlines() if line]
    replicas = max((len(sample) - 1 for sample in rss), default=1)
    rss = [sample for sample in rss if len(sample) == replicas + 1]
    log_lines = [line for log in args.log for line in Path(log).read_text(errors="replace").splitlines()]

    seconds = wrk["duration_us"] / 1e6
    socket_errors = sum(wrk[k] for k in ("connect", "read", "write", "timeout"))
    server_errors = sum(n for status, n in wrk["statuses"].items() if status.startswith("5"))
    hook_5xx = sum(n for status, n in hooks["statuses"].items() if status.startswith("5"))
    hook_bad = sum(n for status, n in hooks["statuses"].items() if status != "204")
    unexpected = wrk["classes"].get("unexpected", 0)
    p99_ms = wrk["p99_us"] / 1000

    def drift(replica: int) -> tuple[int, int, float] | None:
        """RSS at minute 2, at the end, and the change, of one replica."""
        at_2min = next((sample[replica + 1] for sample in rss if sample[0] >= 120), None)
        last = rss[-1][replica + 1] if rss else None
        return (at_2min, last, (last - at_2min) / at_2min) if at_2min and last else None

    drifts = [drift(r) for r in range(replicas)]

    def level(name: str) -> int:
        return sum(1 for line in log_lines if f'"level":"{name}"' in line)

    checks = [
        ("no 5xx (GraphQL and webhooks)", server_errors == 0 and hook_5xx == 0,
         f"{server_errors} + {hook_5xx}"),
        ("no socket error or timeout", socket_errors == 0, str(socket_errors)),
        ("every answer as expected", unexpected == 0 and hook_bad == 0,
         f"{unexpected} unexpected GraphQL answers, {hook_bad} webhook deliveries not 204"),
        (f"p99 under {MAX_P99_MS:.0f} ms", p99_ms < MAX_P99_MS, f"{p99_ms:.2f} ms"),
        (f"RSS flat after warm-up (last within {RSS_DRIFT:.0%} of minute 2)",
         all(d is not None and abs(d[2]) <= RSS_DRIFT for d in drifts),
         "n/a (run shorter than 2 minutes)" if None in drifts
         else "; ".join(f"{'' if replicas == 1 else f'replica {r + 1}: '}"
                        f"{a / 1024:.1f} MiB → {b / 1024:.1f} MiB ({d:+.1%})"
                        for r, (a, b, d) in enumerate(drifts))),
    ]

    out = ["# Soak report", ""]
    out += [f"- {m.replace('=', ': ', 1)}" for m in args.meta]
    out += [
        "",
        "| GraphQL (wrk) | |",
        "|---|---|",
        f"| requests | {wrk['requests']:,} in {seconds:.0f} s ({wrk['requests'] / seconds:,.0f}/s) |",
        f"| latency p50 / p90 / p99 / p99.9 / max | {wrk['p50_us'] / 1000:.2f} / {wrk['p90_us'] / 1000:.2f} / "
        f"{p99_ms:.2f} / {wrk['p999_us'] / 1000:.2f} / {wrk['max_us'] / 1000:.1f} ms |",
        f"| by status | {', '.join(f'{s}: {n:,}' for s, n in sorted(wrk['statuses'].items()))} |",
    ]
    if replicas > 1:
        out += [
            f"| by status, replica {r + 1} | {', '.join(f'{s}: {n:,}' for s, n in sorted(counts.items()))} |"
            for r, counts in enumerate(wrk.get("statuses_by_replica", []))
        ]
    out += [
        f"| by answer | {', '.join(f'{c}: {n:,}' for c, n in sorted(wrk['classes'].items()))} |",
        f"| socket errors / timeouts | {socket_errors} |",
        f"| webhook deliveries | {hooks['sent']:,}: "
        f"{', '.join(f'{s}: {n:,}' for s, n in sorted(hooks['statuses'].items()))}; "
        f"p99 {hooks['p99_ms']:.1f} ms |",
        f"| server log | {len(log_lines):,} lines: {level('WARN')} WARN, {level('ERROR')} ERROR |",
        "",
        "RSS every 10 s (MiB; t = 0 is the start of the measured run, negative during warm-up"
        + ("" if replicas == 1 else "; one column per replica") + "):",
        "",
        "```",
    ]
    per_row = max(1, 6 // replicas)
    row = []
    for t, *kbs in rss:
        row.append(f"{t:>5}s " + " ".join(f"{kb / 1024:6.1f}" for kb in kbs))
        if len(row) == per_row:
            out.append("   ".join(row))
            row = []
    if row:
        out.append("   ".join(row))
    out += ["```", "", "| check | result | |", "|---|---|---|"]
    out += [f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |" for name, ok, detail in checks]
    if wrk.get("unexpected_samples"):
        out += ["", "First unexpected answers:", ""] + [f"- `{s}`" for s in wrk["unexpected_samples"]]
    text = "\n".join(out) + "\n"
    Path(args.out).write_text(text)
    print(text)
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tokens")
    p.add_argument("--dir", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--sessions", type=int, required=True)
    p.add_argument("--ttl", type=int, default=7200)
    p = sub.add_parser("seed")
    p.add_argument("--url", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--users", type=int, required=True)
    p = sub.add_parser("webhooks")
    p.add_argument("--url", required=True, nargs="+")
    p.add_argument("--secret", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--until-file", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--wrk", required=True)
    p.add_argument("--rss", required=True)
    p.add_argument("--webhooks", required=True)
    p.add_argument("--log", required=True, nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--meta", nargs="*", default=[])
    args = parser.parse_args()
    {"tokens": cmd_tokens, "seed": cmd_seed, "webhooks": cmd_webhooks, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
