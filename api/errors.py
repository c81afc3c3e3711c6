"""Every error is JSON {"error": {"code", "message"[, "details"]}} with a stable code."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from quart import Quart, jsonify
from quart_schema import RequestSchemaValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from models.core.errors import DomainError, Unavailable

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

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeout)
    @app.errorhandler(ConnectionError)
    @app.errorhandler(TimeoutError)
    async def _down(exc: Exception):
        log.warning("dependency unavailable", extra={"error": repr(exc)})
        return error_response(
            503, "unavailable", "a backing service is unavailable; retry shortly", headers={"Retry-After": "2"}
        )

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")
