"""Expected GraphQL errors are answered, not logged as failures; unexpected ones still are."""

from __future__ import annotations

import logging
from uuid import uuid4

from ariadne import graphql

from api.graphql.resolvers.common import format_error
from api.graphql.schema import schema
from api.routes.graphql import log


async def _run(context: dict) -> dict:
    ok, result = await graphql(
        schema, {"query": "{ me { id } }"}, context_value=context, error_formatter=format_error, logger=log
    )
    return result


async def test_a_domain_error_is_answered_without_an_error_log(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    result = await _run({"svc": None, "user_id": None, "auth_error": None})
    assert result["errors"][0]["extensions"]["code"] == "unauthorized"
    assert not [r for r in caplog.records if r.name == log.name]


async def test_an_unexpected_error_is_still_logged_with_its_traceback(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    result = await _run({"user_id": uuid4(), "auth_error": None})  # no "svc": a bug, not a client error
    assert result["errors"][0]["extensions"]["code"] == "internal_error"
    logged = [r for r in caplog.records if r.name == log.name]
    assert logged and logged[0].levelno == logging.ERROR and logged[0].exc_info
