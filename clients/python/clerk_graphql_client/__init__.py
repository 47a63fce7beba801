"""Async client of the clerk-graphql API. `generated/` is ariadne-codegen's, from
`queries.graphql` and the committed schema (regenerate with `clients/generate`): the `Client`,
one method per operation, and its input and result models
(`from clerk_graphql_client.generated import CreatePostInput`). The rest is written by hand."""

from __future__ import annotations

from typing import Any

import httpx

from .auth import ClerkSessionAuth, GetToken, retry_after_seconds
from .errors import ERROR_CODES, ApiError, ErrorCode, api_errors
from .generated import Client


def create_client(
    url: str, get_token: GetToken, *, max_retry_after: float = 10.0, **httpx_options: Any
) -> Client:
    """The generated `Client`, signed in through `get_token` (see `ClerkSessionAuth`).
    `httpx_options` go to `httpx.AsyncClient` (e.g. `timeout`)."""
    http_client = httpx.AsyncClient(
        auth=ClerkSessionAuth(get_token, max_retry_after=max_retry_after),
        headers={"accept": "application/graphql-response+json"},
        **httpx_options,
    )
    return Client(url=url, http_client=http_client)


__all__ = [
    "ERROR_CODES",
    "ApiError",
    "ClerkSessionAuth",
    "Client",
    "ErrorCode",
    "GetToken",
    "api_errors",
    "create_client",
    "retry_after_seconds",
]
