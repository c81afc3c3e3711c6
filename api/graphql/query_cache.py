"""Parse and validate each distinct query text once per process: an app sends the same few
queries again and again, and for a page of 20 posts parsing and validating the query cost about
as much as executing it. Plugged into ariadne.graphql as `query_parser` / `query_validator`.

The spec's validation depends only on the schema (fixed per process) and the document, so its
answer is kept with the document; the request's own rules (the cost limit reads the variables,
api/graphql/limits.py) run every time. Bounded: least recently used out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from graphql import DocumentNode, GraphQLError, specified_rules, validate

MAX_QUERIES = 512

# query text -> (document, validation errors or None until validated); id(document) -> query
# text while the entry lives (its document stays referenced, so the id cannot be reused).
_cache: OrderedDict[str, tuple[DocumentNode, list[GraphQLError] | None]] = OrderedDict()
_by_doc: dict[int, str] = {}


def parse_cached(query: str, parse: Callable[[str], DocumentNode]) -> DocumentNode:
    hit = _cache.get(query)
    if hit is not None:
        _cache.move_to_end(query)
        return hit[0]
    document = parse(query)  # a syntax error or a refusal raises and is not kept
    _cache[query] = (document, None)
    _by_doc[id(document)] = query
    while len(_cache) > MAX_QUERIES:
        _, (old, _) = _cache.popitem(last=False)
        _by_doc.pop(id(old), None)
    return document


def validate_cached(schema, document_ast: DocumentNode, rules=None, max_errors=None, **kwargs) -> list[GraphQLError]:
    rules = tuple(rules or specified_rules)
    extra = [r for r in rules if r not in specified_rules]
    query = _by_doc.get(id(document_ast))
    entry = _cache.get(query) if query is not None else None
    if entry is not None and entry[0] is document_ast and entry[1] is not None:
        errors = entry[1]
    else:
        errors = validate(schema, document_ast, rules=specified_rules, max_errors=max_errors, **kwargs)
        if entry is not None and entry[0] is document_ast:
            _cache[query] = (document_ast, errors)  # type: ignore[index]
    if errors or not extra:
        return errors
    return validate(schema, document_ast, rules=extra, max_errors=max_errors, **kwargs)
