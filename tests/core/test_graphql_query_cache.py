"""api/graphql/query_cache.py: a query text is parsed and validated once, its errors are kept with
it, the request's own rules (limits) run every time, and the cache stays bounded."""

from __future__ import annotations

from unittest import mock

import graphql
import pytest

from api.graphql import query_cache
from api.graphql.schema import schema


def test_parsed_and_validated_once_per_text():
    q = "{ me { id username } }"
    doc = query_cache.parse_cached(q, graphql.parse)
    assert query_cache.parse_cached(str(q), graphql.parse) is doc
    with mock.patch.object(query_cache, "validate", wraps=graphql.validate) as spy:
        assert query_cache.validate_cached(schema, doc) == []
        assert query_cache.validate_cached(schema, doc) == []
    assert spy.call_count == 1


def test_invalid_queries_keep_their_errors_and_syntax_errors_raise():
    doc = query_cache.parse_cached("{ me { noSuchField } }", graphql.parse)
    first = query_cache.validate_cached(schema, doc)
    assert first and "noSuchField" in first[0].message
    assert query_cache.validate_cached(schema, doc) is first
    with pytest.raises(graphql.GraphQLError):
        query_cache.parse_cached("{ me { ", graphql.parse)


def test_bounded():
    for i in range(query_cache.MAX_QUERIES + 50):
        query_cache.parse_cached(f"query Q{i} {{ me {{ id }} }}", graphql.parse)
    assert len(query_cache._cache) == query_cache.MAX_QUERIES
    assert len(query_cache._by_doc) == query_cache.MAX_QUERIES


def test_the_requests_own_rules_run_every_time():
    doc = query_cache.parse_cached("{ me { id email } }", graphql.parse)
    seen = []

    class Count(graphql.ValidationRule):
        def enter_field(self, node, *_):
            seen.append(node.name.value)

    rules = (*graphql.specified_rules, Count)
    assert query_cache.validate_cached(schema, doc, rules=rules) == []
    assert query_cache.validate_cached(schema, doc, rules=rules) == []
    assert seen == ["me", "id", "email"] * 2
