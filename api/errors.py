"""Every error is JSON {"error": {"code", "message"[, "details"]}} with a stable code."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from quart import Quart, jsonify
from quart_schema import RequestSchemaValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from models.core.errors import Conflict, DomainError, Unavailable

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(status: int, code: str, message: str, details=None, headers=None):
    body = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    resp = jsonify({"error": body})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def pydantic_details(exc: ValidationError) -> list[dict]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or None, "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


# PostgreSQL SQLSTATE classes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_DATA = ("22", "23502", "23514")  # data exceptions, NOT NULL and CHECK violations
_CONFLICT = ("23505", "23P01", "23503")  # unique, exclusion, foreign key (a row gone meanwhile)
_LOST = ("08", "57P01", "57P02", "57P03", "53300")  # connection gone, server shutting down, too many
_RETRY = ("40001", "40P01")  # serialization failure, deadlock: the same request succeeds when retried
_DATA_MESSAGES = {
    "22021": "a text value holds a character that cannot be stored (a NUL byte?)",
    "22P05": "a text value holds a character that cannot be stored (a NUL byte?)",
    "22003": "a number is out of range",
}


def _chain(exc: BaseException):
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or getattr(cur, "orig", None) or cur.__context__


def _sqlstate(exc: BaseException) -> str | None:
    return next((s for e in _chain(exc) if isinstance(s := getattr(e, "sqlstate", None), str)), None)


def dependency_error(exc: BaseException) -> DomainError | None:
    """What a failure of a backing service means for the client, or None for a bug (a 500).

    Bad data the schema let through but the database refuses (a NUL byte, a number out of
    range) is the client's: 400 `validation_error`; an integrity conflict is a 409; only a lost
    connection or a saturated pool is a 503 with Retry-After. REST and GraphQL both ask here."""
    if isinstance(exc, PoolTimeout):
        return Unavailable("every database connection is busy; retry shortly", retry_after=1)
    if isinstance(exc, DBAPIError):
        state = _sqlstate(exc)
        if exc.connection_invalidated or (state and state.startswith(_LOST)):
            return Unavailable("the database is unavailable; retry shortly")
        if state and state.startswith(_DATA):
            return DomainError(_DATA_MESSAGES.get(state, "a value cannot be stored"), code="validation_error")
        if state and state.startswith(_RETRY):
            return Conflict("the write collided with a concurrent one; retry it", code="write_conflict")
        if state and state.startswith(_CONFLICT):
            return Conflict("the write conflicts with existing data", code="conflict")
        causes = list(_chain(exc))
        if state is None and any(isinstance(e, (ValueError, OverflowError)) for e in causes):
            # asyncpg refused a query argument before sending it (e.g. out of int32 range)
            return DomainError("a value is out of range or of the wrong type", code="validation_error")
        if state is None and (isinstance(exc, OperationalError) or any(isinstance(e, OSError) for e in causes)):
            return Unavailable("the database is unavailable; retry shortly")
        return None
    if isinstance(exc, (RedisConnectionError, RedisTimeout, ConnectionError, TimeoutError)):
        return Unavailable("a backing service is unavailable; retry shortly")
    return None


def register(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def _domain(exc: DomainError):
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else getattr(exc, "headers", None)
        )  # e.g. RateLimited: X-RateLimit-*, Retry-After
        return error_response(exc.status, exc.code, exc.message, exc.details, headers)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema(exc: RequestSchemaValidationError):
        err = exc.validation_error
        not_object = isinstance(err, ValidationError) and any(
            not e["loc"] and e["type"] in ("model_type", "dict_type") for e in err.errors()
        )
        if isinstance(err, ValidationError) and not not_object:
            return error_response(422, "validation_error", "the request body is not valid", pydantic_details(err))
        return error_response(400, "bad_request", "the request body must be a JSON object")

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        return error_response(status, CODES.get(status, "error"), message)

    @app.errorhandler(Exception)
    async def _other(exc: Exception):
        known = dependency_error(exc)
        if known is None:
            log.exception("unhandled error")
            return error_response(500, "internal_error", "an unexpected error occurred")
        if isinstance(known, Unavailable):
            log.warning("dependency unavailable", extra={"error": repr(exc)})
        return await _domain(known)
