"""Retry-After against the real server, started with RATE_LIMIT_USER_PER_MINUTE=30: a user may
send 30 requests at once, then one every 2 s; over that the answer is 429 with Retry-After."""

from __future__ import annotations

import time

import httpx
import pytest
from helpers import Recorder, client, env, mint, static

from clerk_graphql_client import api_errors
from clerk_graphql_client.generated import CreatePostInput, GraphQLClientHttpError


async def exhaust(token: str) -> int:
    """Spends the token's user's quota until the server refuses: the seconds it asks to wait."""
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            response = await http.post(
                env("LIMITED_GRAPHQL_URL"),
                json={"query": "{ health }"},
                headers={"authorization": f"Bearer {token}"},
            )
            if response.status_code == 429:
                return int(response.headers["retry-after"])
    pytest.fail("the server never answered 429: is RATE_LIMIT_USER_PER_MINUTE=30 set?")


async def test_a_query_refused_with_429_waits_retry_after_then_goes_once_more() -> None:
    token = mint("user_py_limited_query")
    await exhaust(token)
    recorder = Recorder()
    async with client(static(token), recorder, url=env("LIMITED_GRAPHQL_URL")) as api:
        started = time.monotonic()
        assert (await api.health()).health == "ok"
        elapsed = time.monotonic() - started
    assert recorder.statuses == [429, 200]
    asked = int(recorder.exchanges[0].retry_after or 0)
    assert 1 <= asked <= 2
    assert elapsed >= asked - 0.02, f"waited {elapsed:.2f} s for Retry-After: {asked}"


async def test_a_mutation_refused_with_429_is_not_retried() -> None:
    token = mint("user_py_limited_mutation")
    await exhaust(token)
    recorder = Recorder()
    title = f"Never written {time.time()}"
    async with client(static(token), recorder, url=env("LIMITED_GRAPHQL_URL")) as api:
        started = time.monotonic()
        with pytest.raises(GraphQLClientHttpError) as refused:
            await api.create_post(input=CreatePostInput(title=title, published=True))
        assert time.monotonic() - started < 1, "did not wait"
        assert recorder.statuses == [429]
        [error] = api_errors(refused.value)
        assert (error.code, error.reason) == ("RATE_LIMITED", "user_rate_limit")
        # Once the quota is back (a query waits for it): no such post was written.
        posts = (await api.posts(first=20)).posts
    assert title not in [post.title for post in posts.nodes]


async def test_a_retry_after_longer_than_the_bound_is_raised_at_once() -> None:
    token = mint("user_py_limited_bound")
    await exhaust(token)
    recorder = Recorder()
    async with client(
        static(token), recorder, url=env("LIMITED_GRAPHQL_URL"), max_retry_after=0.5
    ) as api:
        with pytest.raises(GraphQLClientHttpError) as refused:
            await api.health()
    assert refused.value.status_code == 429
    assert [e.code for e in api_errors(refused.value)] == ["RATE_LIMITED"]
    assert recorder.statuses == [429]
