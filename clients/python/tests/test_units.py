"""What needs no server: Retry-After, the error codes, the sync-client guard, errors of answers
that are not GraphQL."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from clerk_graphql_client import ERROR_CODES, ClerkSessionAuth, api_errors, retry_after_seconds
from clerk_graphql_client.generated import GraphQLClientHttpError


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds(" 0 ") == 0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:05 GMT", now) == 5
    assert retry_after_seconds("Wed, 31 Dec 2025 23:59:00 GMT", now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_error_codes_are_those_of_architecture_section_6() -> None:
    architecture = (Path(__file__).parents[3] / "ARCHITECTURE.md").read_text()
    section = re.split(r"^## 6\. Error codes$", architecture, flags=re.M)[1]
    section = re.split(r"^## ", section, flags=re.M)[0]
    assert sorted(ERROR_CODES) == sorted(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.M))


def test_the_auth_refuses_a_sync_client() -> None:
    auth = ClerkSessionAuth(lambda *, skip_cache=False: None)  # type: ignore[arg-type,return-value]
    with httpx.Client(auth=auth) as sync, pytest.raises(TypeError, match="AsyncClient"):
        sync.get("http://api.invalid/graphql")


def test_an_answer_that_is_not_graphql_is_coded_after_its_status() -> None:
    response = httpx.Response(502, text="<html>Bad Gateway</html>")
    [error] = api_errors(GraphQLClientHttpError(status_code=502, response=response))
    assert (error.code, error.message) == (
        "SERVICE_UNAVAILABLE",
        "HTTP 502: not a GraphQL response",
    )
