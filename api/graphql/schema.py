"""The executable schema: every `sdl/*.graphql` file plus every resolver module's bindables,
built as an Apollo Federation 2 subgraph (sdl/federation.graphql, resolvers/entities.py).

Adding an area = one `sdl/<area>.graphql` (using `extend type Query/Mutation`) and one
`resolvers/<area>.py` exporting `bindables`. Nothing else to register.
"""

from __future__ import annotations

from pathlib import Path

from ariadne.contrib.federation import make_federated_schema
from ariadne.contrib.federation.utils import purge_schema_directives
from ariadne.executable_schema import join_type_defs
from graphql import GraphQLObjectType

from api.graphql.limits import INTROSPECTION_DISABLED
from api.graphql.resolvers import all_bindables
from models.core.errors import DomainError, NotFound

SDL_DIR = Path(__file__).parent / "sdl"


def type_defs() -> list[str]:
    return [p.read_text() for p in sorted(SDL_DIR.glob("*.graphql"))]


def _guard_service(query: GraphQLObjectType) -> None:
    """`_service { sdl }` publishes the schema: governed by GRAPHQL_INTROSPECTION like introspection."""
    field = query.fields["_service"]
    publish = field.resolve
    assert publish is not None

    def resolve_service(obj, info):
        if not info.context["svc"].settings.graphql_introspection_enabled:
            # as the route: the schema does not exist for this caller (404, like GET /graphql/schema)
            raise NotFound("the schema is not published: introspection is disabled", code=INTROSPECTION_DISABLED)
        return publish(obj, info)

    field.resolve = resolve_service


def _cap_entities(query: GraphQLObjectType) -> None:
    """Each representation is a database read: at most GRAPHQL_MAX_ENTITIES per request (a
    gateway batches one plan's lookups; it never needs thousands)."""
    field = query.fields["_entities"]
    resolve = field.resolve
    assert resolve is not None

    def resolve_entities(obj, info, **kwargs):
        limit = info.context["svc"].settings.graphql_max_entities
        n = len(kwargs.get("representations") or ())
        if n > limit:
            raise DomainError(
                f"{n} representations; at most {limit} per request", code="too_many_entities", details={"limit": limit}
            )
        return resolve(obj, info, **kwargs)

    field.resolve = resolve_entities


schema = make_federated_schema(type_defs(), *all_bindables(), convert_names_case=True)
assert schema.query_type is not None
_guard_service(schema.query_type)
_cap_entities(schema.query_type)
# The subgraph SDL, as `_service { sdl }` answers it (ariadne's own computation) and GET /graphql/schema.
SDL: str = purge_schema_directives(join_type_defs(type_defs()))
