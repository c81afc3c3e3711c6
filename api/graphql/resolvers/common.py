"""What every resolver module shares: who is asking, input validation, error shape."""

from __future__ import annotations

from uuid import UUID

from graphql import GraphQLError
from pydantic import ValidationError

from api.errors import dependency_error, pydantic_details
from api.inputs import PageIn
from models.core.errors import DomainError, Unauthorized


def current_user(info) -> UUID:
    uid = info.context["user_id"]
    if uid is None:
        err = info.context["auth_error"]
        raise Unauthorized(err.message, code=err.code) if err else Unauthorized("a bearer token is required")
    return uid


def viewer(info) -> UUID | None:
    """Public read fields: None for an anonymous caller (no token: a stranger to everyone); a
    token that was sent but failed is still 401, so the app refreshes it."""
    err = info.context["auth_error"]
    if err is not None:
        raise Unauthorized(err.message, code=err.code)
    return info.context["user_id"]


def validate(model, data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DomainError("the input is not valid", code="validation_error", details=pydantic_details(exc)) from None


def page(cursor: str | None, limit: int) -> PageIn:
    """A list field's cursor and limit, checked like a REST query string."""
    return validate(PageIn, {"cursor": cursor, "limit": limit})


def format_error(error: GraphQLError, debug: bool = False) -> dict:
    formatted = error.formatted
    original = error.original_error
    if original is not None and not isinstance(original, DomainError):
        original = dependency_error(original) or original
    if isinstance(original, DomainError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, "status": original.status}
        if original.details:
            formatted["extensions"]["details"] = original.details
    elif original is not None:
        formatted["message"] = "an unexpected error occurred"
        formatted["extensions"] = {"code": "internal_error"}
    else:  # a refusal of api/graphql/limits.py keeps its own code
        formatted.setdefault("extensions", {}).setdefault("code", "graphql_validation_failed")
    return formatted
