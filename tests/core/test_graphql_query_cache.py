"""api/graphql/query_cache.py: a query text is parsed and validated once, its errors are kept with
it, and the cache stays bounded."""

from __future__ import annotations

from unittest import mock

import graphql
import pytest

from api.graphql import query_cache
from api.graphql.schema import schema


def test_parsed_and_validated_once_per_text():
    q = {"query": "{ me { id username } }"}
    doc = query_cache.parse_cached(None, q)
    assert query_cache.parse_cached(None, dict(q)) is doc
    with mock.patch.object(query_cache, "validate", wraps=graphql.validate) as spy:
        assert query_cache.validate_cached(schema, doc) == []
        assert query_cache.validate_cached(schema, doc) == []
    assert spy.call_count == 1


def test_invalid_queries_keep_their_errors_and_syntax_errors_raise():
    doc = query_cache.parse_cached(None, {"query": "{ me { noSuchField } }"})
    first = query_cache.validate_cached(schema, doc)
    assert first and "noSuchField" in first[0].message
    assert query_cache.validate_cached(schema, doc) is first
    with pytest.raises(graphql.GraphQLError):
        query_cache.parse_cached(None, {"query": "{ me { "})


def test_bounded():
    for i in range(query_cache.MAX_QUERIES + 50):
        query_cache.parse_cached(None, {"query": f"query Q{i} {{ me {{ id }} }}"})
    assert len(query_cache._cache) == query_cache.MAX_QUERIES
    assert len(query_cache._by_doc) == query_cache.MAX_QUERIES
