from __future__ import annotations

import logging

from ariadne import graphql
from ariadne.explorer import ExplorerGraphiQL
from quart import Blueprint, request

from api.auth import bearer_token, svc, user_from_token
from api.errors import error_response
from api.graphql.resolvers import format_error, schema
from models.errors import DomainError

bp = Blueprint("graphql", __name__)
log = logging.getLogger(__name__)
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
    user_id, auth_error = None, None
    token = bearer_token()
    if token:
        try:
            user_id = user_from_token(token)
        except DomainError as exc:
            auth_error = exc.message
    context = {"svc": svc(), "user_id": user_id, "auth_error": auth_error,
               "idempotency_key": request.headers.get("Idempotency-Key")}
    ok, result = await graphql(schema, data, context_value=context, error_formatter=format_error,
                               debug=False, logger=log)
    return result, 200 if ok else 400
