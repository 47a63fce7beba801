"""The Python client against the real server in dev mode: the token header, the refresh of an
expired token, errors typed by code, and every operation of queries.graphql."""

from __future__ import annotations

import pytest
from helpers import FakeTokens, Recorder, client, mint, signed_out, static, wait_until_expired

from clerk_graphql_client import api_errors
from clerk_graphql_client.generated import (
    CreatePostInput,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    UpdatePostInput,
)


async def test_signed_out_sends_no_authorization_header() -> None:
    recorder = Recorder()
    async with client(signed_out, recorder) as api:
        assert (await api.viewer()).viewer is None
    assert [(e.authorization, e.status) for e in recorder.exchanges] == [(None, 200)]


async def test_signed_in_sends_the_token_as_bearer() -> None:
    tokens = FakeTokens("user_py_signed_in")
    recorder = Recorder()
    async with client(tokens.get_token, recorder) as api:
        viewer = (await api.viewer()).viewer
    assert viewer is not None and viewer.user_id == "user_py_signed_in"
    assert recorder.exchanges[0].authorization == f"Bearer {tokens.minted[0]}"
    assert tokens.skip_cache_calls == 0


async def test_an_expired_token_is_refreshed_once_and_the_request_sent_again() -> None:
    stale = mint("user_py_stale", ttl=1)
    wait_until_expired(stale)
    tokens = FakeTokens("user_py_stale", cached=stale)
    recorder = Recorder()
    async with client(tokens.get_token, recorder) as api:
        # A mutation too: a 401 is a request refused before it ran.
        echoed = await api.echo(message="after a refresh")
    assert echoed.echo == "user_py_stale: after a refresh"
    assert tokens.skip_cache_calls == 1
    assert [(e.status, e.authorization) for e in recorder.exchanges] == [
        (401, f"Bearer {stale}"),
        (200, f"Bearer {tokens.minted[0]}"),
    ]


async def test_a_refresh_that_brings_an_expired_token_again_is_not_retried_again() -> None:
    stale = mint("user_py_stale_again", ttl=1)
    wait_until_expired(stale)
    skip_cache_calls = 0

    async def get_token(*, skip_cache: bool = False) -> str | None:
        nonlocal skip_cache_calls
        skip_cache_calls += skip_cache
        return stale

    recorder = Recorder()
    async with client(get_token, recorder) as api:
        with pytest.raises(GraphQLClientHttpError) as refused:
            await api.viewer()
    assert refused.value.status_code == 401
    [error] = api_errors(refused.value)
    assert (error.code, error.reason) == ("UNAUTHENTICATED", "token_expired")
    assert skip_cache_calls == 1
    assert recorder.statuses == [401, 401]


async def test_a_token_refused_for_another_reason_is_not_refreshed() -> None:
    header, payload, signature = mint("user_py_tampered").split(".")
    tampered = f"{header}.{payload}.{'B' if signature.startswith('A') else 'A'}{signature[1:]}"
    recorder = Recorder()
    async with client(static(tampered), recorder) as api:
        with pytest.raises(GraphQLClientHttpError) as refused:
            await api.health()
    [error] = api_errors(refused.value)
    assert (error.code, error.reason) == ("UNAUTHENTICATED", "token_invalid_signature")
    assert recorder.statuses == [401]


async def test_errors_are_typed_by_code() -> None:
    async with client(signed_out) as anonymous:
        with pytest.raises(GraphQLClientGraphQLMultiError) as me:
            await anonymous.me()
    assert [e.code for e in api_errors(me.value)] == ["UNAUTHENTICATED"]

    async with client(FakeTokens("user_py_errors").get_token) as member:
        with pytest.raises(GraphQLClientGraphQLMultiError) as users:
            await member.users(first=5)
        assert [e.code for e in api_errors(users.value)] == ["FORBIDDEN"]
        with pytest.raises(GraphQLClientGraphQLMultiError) as empty:
            await member.create_post(input=CreatePostInput(title="   "))
        [error] = api_errors(empty.value)
        assert (error.code, error.extensions["field"]) == ("BAD_USER_INPUT", "title")
        with pytest.raises(GraphQLClientGraphQLMultiError) as missing:
            await member.update_post(
                id="00000000-0000-7000-8000-000000000000",
                input=UpdatePostInput(title="nothing here"),
            )
        assert [e.code for e in api_errors(missing.value)] == ["NOT_FOUND"]
        # A request error: 400 under application/graphql-response+json, typed all the same.
        response = await member.execute(query="query Invalid { nothingHere }")
        with pytest.raises(GraphQLClientHttpError) as invalid:
            member.get_data(response)
    assert invalid.value.status_code == 400
    assert [e.code for e in api_errors(invalid.value)] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_every_operation_runs_as_generated() -> None:
    user = "user_py_examples"
    async with client(FakeTokens(user).get_token) as api:
        assert (await api.health()).health == "ok"
        me = (await api.me()).me
        assert me is not None and me.id == user

        post = (
            await api.create_post(
                input=CreatePostInput(title="Typed", body="from the Python client", published=True)
            )
        ).create_post
        assert post.author is not None and post.author.id == user
        updated = await api.update_post(id=post.id, input=UpdatePostInput(title="Typed, twice"))
        assert updated.update_post.title == "Typed, twice"
        fetched = (await api.post(id=post.id)).post
        assert fetched is not None and fetched.title == "Typed, twice"
        assert fetched.created_at.tzinfo is not None
        page = (await api.posts(first=20)).posts
        assert post.id in [p.id for p in page.nodes]
        named = (await api.user(id=user)).user
        assert named is not None and named.id == user
        assert (await api.delete_post(id=post.id)).delete_post == post.id
        assert (await api.post(id=post.id)).post is None
        assert (await api.echo(message="hi")).echo == f"{user}: hi"

    async with client(static(mint("user_py_examples_admin", role="admin"))) as admin:
        users = (await admin.users(first=50)).users
    assert user in [u.id for u in users.nodes]
