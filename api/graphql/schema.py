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
from models.core.errors import NotFound

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


schema = make_federated_schema(type_defs(), *all_bindables(), convert_names_case=True)
assert schema.query_type is not None
_guard_service(schema.query_type)
# The subgraph SDL, as `_service { sdl }` answers it (ariadne's own computation) and GET /graphql/schema.
SDL: str = purge_schema_directives(join_type_defs(type_defs()))
