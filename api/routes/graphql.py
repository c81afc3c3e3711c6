from __future__ import annotations

import logging

from ariadne import graphql
from ariadne.explorer import ExplorerGraphiQL
from quart import Blueprint, request

from api.auth import bearer_token, limit_api, principal, svc
from api.errors import error_response
from api.graphql import query_cache
from api.graphql.resolvers.common import format_error
from api.graphql.schema import schema
from models.core.errors import DomainError

bp = Blueprint("graphql", __name__)
log = logging.getLogger(__name__)


def _unexpected_only(record: logging.LogRecord) -> bool:
    """Ariadne logs every resolver error at ERROR with a traceback; a DomainError is the
    client's (401, 404, 422...), already answered in `errors`, so only the rest reach operators."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(getattr(error, "original_error", None), DomainError)


log.addFilter(_unexpected_only)
_explorer = ExplorerGraphiQL(title="D-A-I-R-A GraphQL")


@bp.get("/graphql")
async def explorer():
    if not svc().settings.graphiql_enabled:
        return error_response(404, "not_found", "GraphiQL is disabled in production")
    return _explorer.html(None), 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.post("/graphql")
async def execute():
    data = await request.get_json()
    if not isinstance(data, dict):
        return error_response(400, "bad_request", "the request body must be a GraphQL JSON object")
    who, auth_error = None, None
    token = bearer_token()
    if token:
        try:
            who = await principal(token)
        except DomainError as exc:
            auth_error = exc  # raised by the fields that need a user; public ones still answer
    if who is not None:
        await limit_api(who)  # one request, one count, whatever the query holds (429 before executing)
    context = {
        "svc": svc(),
        "user_id": who and who.user_id,
        "session_id": who and who.session_id,
        "auth_error": auth_error,
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "base_url": request.host_url,  # media links (api/graphql/loaders.py)
    }
    ok, result = await graphql(
        schema,
        data,
        context_value=context,
        error_formatter=format_error,
        debug=False,
        logger=log,
        query_parser=query_cache.parse_cached,
        query_validator=query_cache.validate_cached,
    )
    return result, 200 if ok else 400
