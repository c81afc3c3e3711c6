from __future__ import annotations

import json
import logging

from ariadne import graphql
from graphql import GraphQLError, OperationType
from quart import Blueprint, current_app, request
from quart_schema import document_response

from api.auth import bearer_token, limit_anonymous, limit_api, limit_write, principal, svc
from api.errors import dependency_error, error_response
from api.graphql import graphiql, limits, persisted, query_cache
from api.graphql.resolvers.common import format_error
from api.graphql.schema import SDL, schema
from api.outputs import errors
from api.outputs.platform import GraphQLOut, Html, PlainText
from models.core.errors import DomainError, Unavailable
from models.core.ratelimit import RateLimited
from models.moderation import sanctions
from models.privacy import erasure

bp = Blueprint("graphql", __name__)
log = logging.getLogger(__name__)
# Mutations a suspended account may still run: ending its own sessions (as REST).
UNRESTRICTED_MUTATIONS = frozenset({"logout", "revokeSession"})


def _unexpected_only(record: logging.LogRecord) -> bool:
    """Ariadne logs every resolver error at ERROR with a traceback; a DomainError is the
    client's (401, 404, 422...), already answered in `errors`, so only the rest reach operators
    (and an unavailable dependency)."""
    error = record.exc_info[1] if record.exc_info else None
    original = getattr(error, "original_error", None)
    if original is not None and not isinstance(original, DomainError):
        original = dependency_error(original)
    return not isinstance(original, DomainError) or isinstance(original, Unavailable)


log.addFilter(_unexpected_only)


def _refused(error: GraphQLError | DomainError, status: int = 400, headers: dict | None = None):
    """A request refused before executing: a GraphQL error with its code, HTTP status as REST's."""
    if isinstance(error, DomainError):
        error = GraphQLError(error.message, original_error=error)
    return {"errors": [format_error(error)]}, status, headers or {}


@bp.get("/graphql/schema")
@document_response(PlainText)
@errors(404)
async def schema_sdl():
    """The subgraph SDL (the seed's route), published only with introspection."""
    if not svc().settings.graphql_introspection_enabled:
        return error_response(404, "not_found", "the schema is not published (GRAPHQL_INTROSPECTION)")
    return SDL, 200, {"Content-Type": "text/plain; charset=utf-8"}


def _json_arg(name: str):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise GraphQLError(f"the {name} query parameter is not JSON", extensions={"code": "bad_request"}) from None


@bp.get("/graphql")
@document_response(Html)
@errors(404, 405)
async def get_graphql():
    """A query over GET (Apollo's GET transport, APQ's hash-only requests) or else GraphiQL."""
    if "query" not in request.args and "extensions" not in request.args:
        return await explorer()
    try:
        data = {
            "query": request.args.get("query") or None,
            "operationName": request.args.get("operationName") or None,
            "variables": _json_arg("variables"),
            "extensions": _json_arg("extensions"),
        }
    except GraphQLError as exc:
        return _refused(exc)
    return await _run(data, via_get=True)


async def explorer():
    if not svc().settings.graphiql_enabled:
        return error_response(404, "not_found", "GraphiQL is disabled (GRAPHQL_INTROSPECTION or GRAPHIQL)")
    return graphiql.page(), 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.post("/graphql")
@document_response(GraphQLOut)
@document_response(GraphQLOut, 400)
@document_response(GraphQLOut, 429)
async def execute():
    data = await request.get_json()
    if not isinstance(data, dict):
        return error_response(400, "bad_request", "the request body must be a GraphQL JSON object")
    return await _run(data, via_get=False)


async def _run(data: dict, via_get: bool):
    services = svc()
    settings = services.settings
    query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
    if variables is not None and not isinstance(variables, dict):
        return _refused(limits.refusal("variables must be an object", "bad_request"))
    try:
        query = await persisted.resolve(
            services.redis, settings, current_app.config.get("PERSISTED_QUERIES"), query, extensions
        )
    except persisted.Refused as exc:
        return _refused(exc.error, exc.status)
    if not isinstance(query, str) or not query:
        return _refused(limits.refusal("the request needs a query string", "bad_request"))
    try:
        document = query_cache.parse_cached(query, lambda q: limits.parse_document(q, settings))
    except GraphQLError as exc:
        return _refused(exc, 413 if (exc.extensions or {}).get("code") == limits.TOO_LARGE else 400)
    op = limits.chosen_operation(document, data.get("operationName"))
    if via_get and op is not None and op.operation is not OperationType.QUERY:
        # GET is cacheable and can be triggered cross-site: it never changes anything (as Apollo Server)
        return _refused(
            limits.refusal(f"GET runs queries only; send a {op.operation.value} with POST", "method_not_allowed"),
            405,
            {"Allow": "POST"},
        )
    await persisted.register(services.redis, settings, extensions, query)
    data = {**data, "query": query}
    who, auth_error = None, None
    anonymous = not request.headers.get("Authorization")
    pending_user_id = None
    if not anonymous:
        try:
            who = await principal(bearer_token())
            if await erasure.pending_until(services, who.user_id) is not None:
                # only cancelAccountDeletion / accountDeletion read it (resolvers/privacy.py)
                pending_user_id, who = who.user_id, None
                await erasure.ensure_not_pending(services, pending_user_id)
        except DomainError as exc:
            # raised by every field that reads the caller, public read fields included (401: refresh)
            auth_error = exc
    try:
        if who is not None:
            await limit_api(who)  # one request, one count (429 before executing)
        else:
            await limit_anonymous()  # no token, or a bad one: per client IP
    except RateLimited as exc:
        return _refused(exc, 429, exc.headers)

    async def admit(context, operation_name, variables, document):
        """After validation, before executing: each root mutation field is one write."""
        writes = limits.mutation_fields(document, operation_name)
        if writes:
            try:
                await (limit_write(who.user_id, writes) if who is not None else limit_anonymous(writes))
            except RateLimited as exc:
                context["refused"] = exc
                raise GraphQLError(exc.message, original_error=exc) from None
            # A suspended account's writes: 403 account_suspended / account_banned (as REST).
            if who is not None and not limits.mutation_names(document, operation_name) <= UNRESTRICTED_MUTATIONS:
                refused = await sanctions.refusal(services, who.user_id)
                if refused is not None:
                    raise GraphQLError(refused.message, original_error=refused)
        return None

    context = {
        "svc": services,
        "user_id": who and who.user_id,
        "session_id": who and who.session_id,
        "auth_error": auth_error,
        "pending_deletion_user_id": pending_user_id,
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "base_url": request.host_url,  # media links (api/graphql/loaders.py)
    }
    ok, result = await graphql(
        schema,
        data,
        context_value=context,
        query_document=document,
        validation_rules=limits.rules(settings, schema, variables),
        root_value=admit,
        error_formatter=format_error,
        debug=False,
        logger=log,
        query_validator=query_cache.validate_cached,
    )
    refused = context.get("refused")
    if refused is not None:
        return result, 429, refused.headers
    return result, 200 if ok else 400
