"""What the tests share: the dev-mode servers scripts/clients started, tokens minted by the
server binary (`clerk-graphql dev-token`), a stand-in for a token source, a request log."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from clerk_graphql_client import create_client
from clerk_graphql_client.generated import Client


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through scripts/clients")
    return value


def mint(user: str, *, ttl: int = 600, role: str | None = None) -> str:
    """A dev token of `user`, living `ttl` seconds, with the app role `role`."""
    args = [env("CLERK_GRAPHQL_BIN"), "dev-token", "--user", user, "--ttl", str(ttl)]
    if role:
        args += ["--role", role]
    # Nothing of the caller's environment but the path: a Clerk key there would end dev mode.
    child_env = {
        "PATH": os.environ["PATH"],
        "APP_ENV": "development",
        "DEV_KEYS_DIR": env("DEV_KEYS_DIR"),
    }
    return subprocess.run(
        args, env=child_env, check=True, capture_output=True, text=True
    ).stdout.strip()


def expiry(token: str) -> float:
    """A token's `exp`, in seconds."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


def wait_until_expired(token: str) -> None:
    """The server here allows no clock skew: past `exp`, the token is refused."""
    time.sleep(max(0.0, expiry(token) - time.time()) + 0.1)


@dataclass
class FakeTokens:
    """A token source for one user: a cached token (handed out as it is, even expired, like a
    cache behind the server's clock), a new one on `skip_cache`. Counts what it was asked."""

    user: str
    cached: str | None = None
    skip_cache_calls: int = 0
    minted: list[str] = field(default_factory=list)

    async def get_token(self, *, skip_cache: bool = False) -> str | None:
        if skip_cache:
            self.skip_cache_calls += 1
        if skip_cache or self.cached is None:
            self.cached = mint(self.user)
            self.minted.append(self.cached)
        return self.cached


@dataclass
class Exchange:
    authorization: str | None
    status: int
    retry_after: str | None


@dataclass
class Recorder:
    """Every request the client sent (retries too) and the status it got."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def response(self, response: httpx.Response) -> None:
        self.exchanges.append(
            Exchange(
                authorization=response.request.headers.get("authorization"),
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        )

    @property
    def statuses(self) -> list[int]:
        return [exchange.status for exchange in self.exchanges]


def client(
    get_token: Any, recorder: Recorder | None = None, url: str | None = None, **options: Any
) -> Client:
    """The generated client against the dev-mode server (or `url`), through `create_client`."""
    hooks = {"response": [recorder.response]} if recorder else {}
    return create_client(url or env("GRAPHQL_URL"), get_token, event_hooks=hooks, **options)


async def signed_out(*, skip_cache: bool = False) -> str | None:
    return None


def static(token: str):
    """A token source that always hands out `token`."""

    async def get_token(*, skip_cache: bool = False) -> str | None:
        return token

    return get_token
