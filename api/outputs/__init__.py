"""Response models of the REST routes, for /openapi.json (a typed client is generated from it).

Each area's success bodies live in api/outputs/<area>.py, mirroring api/inputs/<area>.py. Routes
*document* them (`document_response`), they do not validate them: a model that lags behind the
domain's dict must never turn a good answer into a 500. So models are `Open` (extra fields
allowed), and list only the fields a client can rely on.

A route declares its success with `document_response(Model, status)` (`NoContent` for a 204) and
its own error statuses with `errors(404, 409, ...)`; api/openapi.py adds the ones every route of
a kind has (400/422 for a body or query string, 401/429 with a token, 403 with a role, 503).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from quart_schema import document_response

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Open(BaseModel):
    """A response body: the fields listed, maybe more (documented, never validated at run time)."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorOut(BaseModel):
    """{"error": {"code", "message", "details"?}}: `code` is stable and machine-readable (api/errors.py)."""

    error: ErrorDetail


class NoContent(BaseModel):
    """No body."""


class Page(Open, Generic[T]):
    """A page of a list, newest first; pass `next_cursor` as `cursor` for the next one (null: the end)."""

    items: list[T]
    next_cursor: str | None = None


class Status(Open):
    status: str


class Ok(Open):
    ok: bool


def errors(*statuses: int) -> Callable[[F], F]:
    """Documents the route-specific error statuses, each with the shared ErrorOut body."""

    def decorator(func: F) -> F:
        for status in statuses:
            func = document_response(ErrorOut, status)(func)
        return func

    return decorator
