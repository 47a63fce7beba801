"""Signs the generated client's requests in with a Clerk session token, as an `httpx.Auth`."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Generator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

import anyio
import httpx
from graphql import GraphQLError, OperationDefinitionNode, parse


class GetToken(Protocol):
    """A source of session tokens: None when there is none; `skip_cache` asks for a new one."""

    def __call__(self, *, skip_cache: bool = False) -> Awaitable[str | None]: ...


class ClerkSessionAuth(httpx.Auth):
    """Adds `Authorization: Bearer <token>` when there is a token (no header when there is
    none, never `Bearer None`); after a 401 `token_expired`, asks `get_token(skip_cache=True)`
    once and sends the request once more; after a 429 or 503, waits `Retry-After` (at most
    `max_retry_after` seconds) and sends a query once more, never a mutation.

    For `httpx.AsyncClient`, which the generated client uses.
    """

    requires_request_body = True
    requires_response_body = True

    def __init__(self, get_token: GetToken, *, max_retry_after: float = 10.0) -> None:
        self.get_token = get_token
        self.max_retry_after = max_retry_after

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise TypeError("ClerkSessionAuth works with httpx.AsyncClient (get_token is async)")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        token = await self.get_token(skip_cache=False)
        refreshed = waited = False
        while True:
            _authorize(request, token)
            response = yield request
            await response.aread()
            if (
                response.status_code == 401
                and token
                and not refreshed
                and _reason(response) == "token_expired"
            ):
                # A 401 is a request refused before it ran: safe to send again, mutation or not.
                refreshed = True
                token = await self.get_token(skip_cache=True)
                if token:
                    continue
            if response.status_code in (429, 503) and not waited and _is_query(request):
                # Only queries: a 503 can be a mutation that timed out after it wrote.
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None and wait <= self.max_retry_after:
                    waited = True
                    await anyio.sleep(wait)
                    token = await self.get_token(skip_cache=False)
                    continue
            return


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a `Retry-After` asks for: whole seconds (what this server sends) or an HTTP
    date; None when there is none."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (date - (now or datetime.now(timezone.utc))).total_seconds())


def _authorize(request: httpx.Request, token: str | None) -> None:
    if token:
        request.headers["Authorization"] = f"Bearer {token}"
    else:
        request.headers.pop("Authorization", None)


def _reason(response: httpx.Response) -> str | None:
    """`extensions.reason` of the first error: why a 401 refused the token."""
    try:
        return response.json()["errors"][0]["extensions"]["reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _is_query(request: httpx.Request) -> bool:
    """Whether the GraphQL request runs a query (the operation named by `operationName`)."""
    try:
        body = json.loads(request.content)
        document = parse(body["query"])
    except (ValueError, KeyError, TypeError, GraphQLError):
        return False
    name = body.get("operationName")
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (name is None or (definition.name is not None and definition.name.value == name))
    ]
    return len(operations) == 1 and operations[0].operation.value == "query"
