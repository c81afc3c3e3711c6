"""Bearer-token guard shared by REST, GraphQL and the websocket."""
from __future__ import annotations

from functools import wraps
from uuid import UUID

from quart import current_app, g, request

from models import users
from models.errors import DomainError, Unauthorized


def svc():
    return current_app.config["SERVICES"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def user_from_token(token: str | None) -> UUID:
    if not token:
        raise Unauthorized("a bearer token is required", code="unauthorized")
    return UUID(users.decode_access_token(svc(), token)["sub"])


def auth_required(func):
    @wraps(func)
    async def wrapper(*args, **kwargs):
        g.user_id = user_from_token(bearer_token())
        return await func(*args, **kwargs)
    return wrapper


def parse_id(value: str, what: str = "id") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise DomainError(f"{what} is not a valid UUID", code="invalid_id") from None
