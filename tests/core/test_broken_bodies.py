"""Broken bodies and data the database refuses: every JSON-body operation of the OpenAPI answers
400 with a code to a body that is not UTF-8 or not JSON; a NUL byte or an out-of-range number is
a 400 `validation_error` (REST and GraphQL), a conflict a 409, a lost connection or a full pool
a 503 with Retry-After (api/errors.dependency_error)."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.errors import dependency_error
from models.core.errors import Conflict, Unavailable
from tests.support.client import code, gql
from tests.support.factories import admin_user, create_post, register

NOT_UTF8 = b'{"caption": "\xff\xfe\xfa"}'
NOT_JSON = b"caption=hello"


async def _json_operations(client) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if "application/json" in (op.get("requestBody") or {}).get("content", {}):
                ops.append((method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)))
    return ops + [("POST", "/graphql")]


async def test_every_json_operation_refuses_a_broken_body_with_400(client, stack_env):
    admin = await admin_user(client, stack_env)  # admin routes check the role before the body
    ops = await _json_operations(client)
    assert len(ops) > 30  # the walk really covers the API
    wrong = []
    for method, path in ops:
        for body in (NOT_UTF8, NOT_JSON):
            r = await client.request(
                method, path, content=body, headers={**admin["headers"], "Content-Type": "application/json"}
            )
            if r.status_code != 400 or r.json()["error"]["code"] != "bad_request":
                wrong.append((method, path, body[:12], r.status_code, r.text[:120]))
    assert not wrong, wrong


async def test_a_body_sent_as_text_is_a_400_not_a_500(client):
    user = await register(client)
    for path in ("/posts", "/auth/login", "/interactions/comments"):
        r = await client.post(path, content=NOT_UTF8, headers={**user["headers"], "Content-Type": "text/plain"})
        assert code(r) == (400, "bad_request"), (path, r.text)


async def test_nul_bytes_are_a_validation_error_on_rest_and_graphql(client):
    author, friend = await register(client), await register(client)
    r = await client.post("/posts", json={"caption": "hi\x00there"}, headers=author["headers"])
    assert code(r) == (400, "validation_error") and "NUL" in r.json()["error"]["message"]
    post = await create_post(client, author)
    r = await client.post("/interactions/comments", json={"post_id": post, "body": "a\x00b"}, headers=friend["headers"])
    assert code(r) == (400, "validation_error"), r.text
    r = await client.post(
        "/interactions/messages", json={"to_user_id": author["user"]["id"], "body": "a\x00b"}, headers=friend["headers"]
    )
    assert code(r) == (400, "validation_error"), r.text
    out = await gql(
        client,
        author,
        "mutation($c: String!) { createPost(input: {caption: $c}) { id } }",
        {"c": "nul\x00byte"},
    )
    ext = out["errors"][0]["extensions"]
    assert ext["code"] == "validation_error" and ext["status"] == 400, out


# ------------------------------------------------ the classification, against the real database


async def _raised(svc, sql: str, params: dict, before: tuple[str, ...] = ()) -> Exception:
    async with svc.sessions() as s:
        for statement in before:
            await s.execute(text(statement))
        with pytest.raises(Exception) as caught:
            await s.execute(text(sql), params)
    return caught.value


async def test_database_refusals_are_classified(svc):
    out_of_range = dependency_error(await _raised(svc, "SELECT CAST(:n AS integer)", {"n": 2**40}))
    assert out_of_range is not None and (out_of_range.status, out_of_range.code) == (400, "validation_error")
    overflow = dependency_error(await _raised(svc, "SELECT CAST(:n AS integer) * 1000000", {"n": 2**30}))
    assert overflow is not None and (overflow.status, overflow.code) == (400, "validation_error")
    nul = dependency_error(await _raised(svc, "SELECT CAST(:t AS text)", {"t": "a\x00b"}))
    assert nul is not None and (nul.status, nul.code) == (400, "validation_error")
    table = ("CREATE TEMP TABLE t (k int PRIMARY KEY, v int CHECK (v > 0))", "INSERT INTO t VALUES (1, 1)")
    unique = dependency_error(await _raised(svc, "INSERT INTO t VALUES (1, 2)", {}, table))
    assert isinstance(unique, Conflict) and unique.status == 409
    check = dependency_error(await _raised(svc, "INSERT INTO t VALUES (2, -1)", {}, table))
    assert check is not None and (check.status, check.code) == (400, "validation_error")
    for state in ("40001", "40P01"):  # serialization failure, deadlock: retryable
        raised = f"DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = '{state}'; END $$"
        collided = dependency_error(await _raised(svc, raised, {}))
        assert isinstance(collided, Conflict) and collided.code == "write_conflict"
    typo = await _raised(svc, "SELECT no_such_column FROM users", {})
    assert dependency_error(typo) is None  # a bug stays a 500


async def test_a_lost_connection_is_a_503(svc, db):
    async with svc.sessions() as s:
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await db.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(Exception) as caught:
            await s.execute(text("SELECT 1"))
    lost = dependency_error(caught.value)
    assert isinstance(lost, Unavailable) and lost.status == 503, repr(caught.value)


async def test_a_pool_timeout_is_a_503_with_retry_after(stack_env):
    from infra.settings import get_settings

    engine = create_async_engine(get_settings().sqlalchemy_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(Exception) as caught:
                async with engine.connect():
                    pass
        busy = dependency_error(caught.value)
        assert isinstance(busy, Unavailable) and busy.status == 503 and busy.retry_after >= 1
    finally:
        await engine.dispose()
        await asyncio.sleep(0)
