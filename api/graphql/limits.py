"""What one GraphQL request may ask for, checked before anything executes (docs/security.md).

- size: the document's length (GRAPHQL_MAX_QUERY_CHARS) and its token count;
- cost: Ariadne's cost validator with a cost map built from the schema: every field costs 1
  times the `limit` of each list field above it (a field with a `limit` argument multiplies
  what it selects), so `trending(limit: 100) { items { post { id } } }` costs about 300;
- depth (GRAPHQL_MAX_DEPTH), aliases (GRAPHQL_MAX_ALIASES) and root mutation fields per
  request (GRAPHQL_MAX_MUTATIONS), fragments followed;
- introspection only when GRAPHQL_INTROSPECTION allows it.

Each refusal is a GraphQL error with a stable `extensions.code`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from ariadne.contrib.tracing.utils import is_introspection_key
from ariadne.validation.query_cost import CostValidator
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from graphql.validation import ValidationContext, ValidationRule

from infra.settings import Settings

TOO_LARGE, TOO_COSTLY, TOO_DEEP = "query_too_large", "query_too_costly", "query_too_deep"
TOO_MANY_ALIASES, TOO_MANY_MUTATIONS = "too_many_aliases", "too_many_mutations"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"  # the name the issue and Apollo tooling use


def refusal(message: str, code: str, **details) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **({"details": details} if details else {})})


@cache
def cost_map(schema: GraphQLSchema) -> dict[str, dict[str, dict]]:
    """Every field of every object type: complexity 1, multiplied by its `limit` if it has one."""
    out: dict[str, dict[str, dict]] = {}
    for name, t in schema.type_map.items():
        if name.startswith("__") or not isinstance(t, GraphQLObjectType):
            continue
        out[name] = {
            field: {"complexity": 1, "multipliers": ["limit"]} if "limit" in f.args else {"complexity": 1}
            for field, f in t.fields.items()
        }
    return out


def parse_document(query: str, settings: Settings) -> DocumentNode:
    """Refuses an oversized document before the parser spends time on it."""
    if len(query) > settings.graphql_max_query_chars:
        raise refusal(
            f"the query is longer than {settings.graphql_max_query_chars} characters",
            TOO_LARGE,
            limit=settings.graphql_max_query_chars,
        )
    try:
        return parse(query, max_tokens=settings.graphql_max_tokens)
    except GraphQLError as exc:
        if "tokens" in exc.message and "more than" in exc.message:  # graphql-core's max_tokens refusal
            raise refusal(exc.message, TOO_LARGE, limit=settings.graphql_max_tokens) from None
        raise


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset = frozenset()
) -> Iterator[FieldNode]:
    """The fields a selection set selects, through fragments (a fragment cycle stops)."""
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, FieldNode):
            yield sel
        elif isinstance(sel, InlineFragmentNode):
            yield from _fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
            frag = fragments.get(sel.name.value)
            if frag is not None:
                yield from _fields(frag.selection_set, fragments, seen | {sel.name.value})


def _depth(selection_set, fragments, seen: frozenset = frozenset()) -> int:
    best = 0
    for f in _fields(selection_set, fragments, seen):
        if f.selection_set:
            best = max(best, 1 + _depth(f.selection_set, fragments, seen))
        else:
            best = max(best, 1)
    return best


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def chosen_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation that will run (None: none or several match, which execution refuses)."""
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in ops if operation_name is None or (o.name and o.name.value == operation_name)]
    return chosen[0] if len(chosen) == 1 else None


def mutation_fields(document: DocumentNode, operation_name: str | None) -> int:
    """How many root fields the mutation that will run selects (0 for a query): each is one write."""
    op = chosen_operation(document, operation_name)
    if op is None or op.operation is not OperationType.MUTATION:
        return 0
    return sum(1 for _ in _fields(op.selection_set, _fragments(document)))


def mutation_names(document: DocumentNode, operation_name: str | None) -> set[str]:
    """The names of the root fields of the mutation that will run (empty for a query)."""
    op = chosen_operation(document, operation_name)
    if op is None or op.operation is not OperationType.MUTATION:
        return set()
    return {f.name.value for f in _fields(op.selection_set, _fragments(document))}


def rules(settings: Settings, schema: GraphQLSchema, variables: dict | None) -> list[type[ValidationRule]]:
    """The validation rules of one request (the cost depends on its variables)."""
    costs = cost_map(schema)
    max_depth, max_aliases, max_mutations = (
        settings.graphql_max_depth,
        settings.graphql_max_aliases,
        settings.graphql_max_mutations,
    )

    class Cost(CostValidator):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(
                context, maximum_cost=settings.graphql_max_cost, default_cost=1, variables=variables, cost_map=costs
            )

        def get_cost_exceeded_error(self) -> GraphQLError:
            return refusal(
                f"the query costs {self.cost}, more than the {self.maximum_cost} allowed",
                TOO_COSTLY,
                cost=min(self.cost, 2**53),  # a huge `limit` variable: JSON numbers stay exact below 2**53
                limit=self.maximum_cost,
            )

    class Shape(ValidationRule):
        """Depth, aliases and root mutation fields, once per document."""

        def enter_document(self, node: DocumentNode, *_args):
            fragments = _fragments(node)
            aliases = sum(
                1
                for d in node.definitions
                if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))
                for _ in _aliased(d.selection_set)
            )
            if aliases > max_aliases:
                self.report_error(
                    refusal(
                        f"the query uses {aliases} aliases; at most {max_aliases}", TOO_MANY_ALIASES, limit=max_aliases
                    )
                )
            for op in (d for d in node.definitions if isinstance(d, OperationDefinitionNode)):
                depth = _depth(op.selection_set, fragments)
                if depth > max_depth:
                    self.report_error(
                        refusal(f"the query is {depth} levels deep; at most {max_depth}", TOO_DEEP, limit=max_depth)
                    )
                if op.operation is OperationType.MUTATION:
                    n = sum(1 for _ in _fields(op.selection_set, fragments))
                    if n > max_mutations:
                        self.report_error(
                            refusal(
                                f"the mutation has {n} root fields; at most {max_mutations} per request",
                                TOO_MANY_MUTATIONS,
                                limit=max_mutations,
                            )
                        )

    found: list[type[ValidationRule]] = [Cost, Shape]
    if not settings.graphql_introspection_enabled:
        found.append(NoIntrospection)
    return found


def _aliased(selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
    """Every aliased field written in a selection set (fragments are counted where defined)."""
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, FieldNode):
            if sel.alias is not None:
                yield sel
            yield from _aliased(sel.selection_set)
        elif isinstance(sel, InlineFragmentNode):
            yield from _aliased(sel.selection_set)


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` refused (`__typename` is not introspection of the schema)."""

    def enter_field(self, node: FieldNode, *_args):
        if is_introspection_key(node.name.value):
            self.report_error(
                refusal(f"cannot query {node.name.value}: introspection is disabled", INTROSPECTION_DISABLED)
            )
