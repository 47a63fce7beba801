"""The API's errors, typed by `extensions.code`, whichever way the generated client raised them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .generated import (
    GraphQLClientError,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
)

# Every `extensions.code` the server sends (ARCHITECTURE.md §6; a test keeps the two equal).
ErrorCode = Literal[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "BAD_REQUEST",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_IN_LIST",
    "PERSISTED_QUERY_HASH_MISMATCH",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_SERVER_ERROR",
]
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


@dataclass(frozen=True)
class ApiError:
    message: str
    code: ErrorCode
    # Why a request was refused: the 401 reasons (`token_expired`, …), the 429 limits, …
    reason: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)


def api_errors(error: GraphQLClientError) -> list[ApiError]:
    """The errors behind what the generated client raised: GraphQL errors of a 200 answer, or
    of a refused request (401, 429, 400, … carry GraphQL errors in their body too). A body that
    holds none gives one error coded after the HTTP status."""
    if isinstance(error, GraphQLClientGraphQLMultiError):
        return [_api_error(e.message, e.extensions or {}, 200) for e in error.errors]
    if isinstance(error, GraphQLClientHttpError):
        status = error.status_code
        try:
            errors = error.response.json()["errors"]
            return [_api_error(e["message"], e.get("extensions") or {}, status) for e in errors]
        except (ValueError, KeyError, TypeError, AttributeError):
            return [ApiError(f"HTTP {status}: not a GraphQL response", _code_for_status(status))]
    return [ApiError(str(error), "INTERNAL_SERVER_ERROR")]


def _api_error(message: str, extensions: dict[str, Any], status: int) -> ApiError:
    code = extensions.get("code")
    return ApiError(
        message=message,
        code=code if code in ERROR_CODES else _code_for_status(status),
        reason=extensions.get("reason"),
        extensions=extensions,
    )


def _code_for_status(status: int) -> ErrorCode:
    codes: dict[int, ErrorCode] = {
        401: "UNAUTHENTICATED",
        403: "FORBIDDEN",
        429: "RATE_LIMITED",
        502: "SERVICE_UNAVAILABLE",
        503: "SERVICE_UNAVAILABLE",
        504: "SERVICE_UNAVAILABLE",
    }
    if status in codes:
        return codes[status]
    return "BAD_REQUEST" if 400 <= status < 500 else "INTERNAL_SERVER_ERROR"
