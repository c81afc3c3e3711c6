"""Domain errors: raised by domain functions, mapped to HTTP / GraphQL errors by the API faces."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | list | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class Unavailable(DomainError):
    """A dependency (broker, database) is down: the client should retry later."""

    status, code = 503, "unavailable"

    def __init__(self, message: str, *, retry_after: int = 2, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after
