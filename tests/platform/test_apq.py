"""Automatic persisted queries as Apollo's APQ protocol, over POST and GET /graphql, stored in the
suite's Redis; the allow-list mode (GRAPHQL_PERSISTED_ONLY) on an API of its own."""

from __future__ import annotations

import hashlib
import json
from uuid import uuid4

import httpx
import pytest

from tests.support.factories import create_post, register
from tests.support.processes import start_api


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def ext(query: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(query)}}


def get_params(query: str | None, variables: dict | None = None, operation: str | None = None, hash_of=None) -> dict:
    params = {"extensions": json.dumps(ext(hash_of or query))}
    if query is not None:
        params["query"] = query
    if variables is not None:
        params["variables"] = json.dumps(variables)
    if operation is not None:
        params["operationName"] = operation
    return params


def unique_query() -> str:
    """A query no earlier run registered (the suite's Redis outlives a test)."""
    return f"query Q{uuid4().hex} {{ me {{ id username }} }}"


async def test_unknown_hash_then_register_then_hash_alone(client, redis):
    user = await register(client)
    q = unique_query()
    r = await client.post("/graphql", json={"extensions": ext(q)}, headers=user["headers"])
    assert r.status_code == 200  # as Apollo Server: the client link retries with the query
    assert r.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }

    r = await client.post("/graphql", json={"query": q, "extensions": ext(q)}, headers=user["headers"])
    assert r.status_code == 200 and r.json()["data"]["me"]["id"] == user["user"]["id"], r.text
    assert await redis.ttl(f"gql:apq:{sha(q)}") > 0  # stored with GRAPHQL_APQ_TTL

    r = await client.post("/graphql", json={"extensions": ext(q)}, headers=user["headers"])
    assert r.json()["data"]["me"]["username"] == user["user"]["username"], r.text
    # the hash is the query's, for anyone: another user runs it as themselves
    other = await register(client)
    r = await client.get("/graphql", params=get_params(None, hash_of=q), headers=other["headers"])
    assert r.status_code == 200 and r.json()["data"]["me"]["id"] == other["user"]["id"], r.text


async def test_get_registers_and_runs_queries_with_variables(client):
    user = await register(client)
    post = await create_post(client, user, "بالـ GET")
    q = f"query P{uuid4().hex[:8]}($id: ID!) {{ post(id: $id) {{ id caption }} }}"
    r = await client.get("/graphql", params=get_params(None, hash_of=q), headers=user["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    r = await client.get("/graphql", params=get_params(q, {"id": post}), headers=user["headers"])
    assert r.status_code == 200 and r.json()["data"]["post"]["caption"] == "بالـ GET", r.text
    r = await client.get("/graphql", params=get_params(None, {"id": post}, hash_of=q), headers=user["headers"])
    assert r.json()["data"]["post"]["id"] == post, r.text
    # a plain GET query (no APQ) works too; no parameters at all is GraphiQL's page
    r = await client.get("/graphql", params={"query": "{ me { id } }"}, headers=user["headers"])
    assert r.json()["data"]["me"]["id"] == user["user"]["id"]
    r = await client.get("/graphql")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")


async def test_get_never_runs_a_mutation(client):
    user = await register(client)
    post = await create_post(client, user)
    m = f"mutation M{uuid4().hex[:8]}($p: ID!) {{ deletePost(id: $p) }}"
    for params in (get_params(m, {"p": post}), {"query": m, "variables": json.dumps({"p": post})}):
        r = await client.get("/graphql", params=params, headers=user["headers"])
        assert r.status_code == 405 and r.headers["allow"] == "POST", r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "method_not_allowed"
    # not registered by the refused GET, and the post is still there
    r = await client.get("/graphql", params=get_params(None, hash_of=m), headers=user["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert (await client.get(f"/posts/{post}", headers=user["headers"])).status_code == 200
    # the same mutation by POST, registered with its hash, runs
    r = await client.post(
        "/graphql", json={"query": m, "variables": {"p": post}, "extensions": ext(m)}, headers=user["headers"]
    )
    assert r.json() == {"data": {"deletePost": True}}, r.text


async def test_bad_hashes_and_versions_are_refused(client):
    user = await register(client)
    q = unique_query()
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": sha(q + " ")}}
    r = await client.post("/graphql", json={"query": q, "extensions": wrong}, headers=user["headers"])
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert r.json()["errors"][0]["message"] == "provided sha does not match query"
    r = await client.post("/graphql", json={"extensions": ext(q)}, headers=user["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"  # nothing was stored
    for bad in ({"persistedQuery": {"version": 2, "sha256Hash": sha(q)}}, {"persistedQuery": {"version": 1}}, []):
        r = await client.post("/graphql", json={"query": q, "extensions": bad}, headers=user["headers"])
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "bad_request", r.text
    r = await client.get("/graphql", params={"query": q, "variables": "{not json"}, headers=user["headers"])
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "bad_request"


async def test_limits_apply_to_persisted_queries(client):
    user = await register(client)
    deep = "{ me { id } }" + " " * 25_000  # past GRAPHQL_MAX_QUERY_CHARS: refused, never stored
    r = await client.post("/graphql", json={"query": deep, "extensions": ext(deep)}, headers=user["headers"])
    assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "query_too_large"
    r = await client.post("/graphql", json={"extensions": ext(deep)}, headers=user["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


ALLOWED = "query Me { me { id username } }"
ALLOWED_VARS = "query Post($id: ID!) { post(id: $id) { id } }"


@pytest.fixture(scope="module")
def allow_list_api(stack_env, log_dir, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("pq") / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha(q), "name": name, "type": "query", "body": q}
                    for name, q in (("Me", ALLOWED), ("Post", ALLOWED_VARS))
                ],
            }
        )
    )
    proc, base = start_api(stack_env, log_dir, GRAPHQL_PERSISTED_ONLY="true", GRAPHQL_PERSISTED_QUERIES=str(manifest))
    yield base
    proc.stop()


async def test_allow_list_runs_only_the_manifests_queries(allow_list_api):
    async with httpx.AsyncClient(base_url=allow_list_api, timeout=15) as c:
        user = await register(c)
        h = user["headers"]
        r = await c.post("/graphql", json={"extensions": ext(ALLOWED)}, headers=h)  # by hash, never registered
        assert r.json()["data"]["me"]["id"] == user["user"]["id"], r.text
        r = await c.post("/graphql", json={"query": ALLOWED}, headers=h)  # its exact text
        assert r.json()["data"]["me"]["id"] == user["user"]["id"], r.text
        post = await create_post(c, user)
        r = await c.get("/graphql", params=get_params(None, {"id": post}, hash_of=ALLOWED_VARS), headers=h)
        assert r.json()["data"]["post"]["id"] == post, r.text

        other = "{ me { id email } }"
        for body in ({"query": other}, {"query": other, "extensions": ext(other)}, {"extensions": ext(other)}):
            r = await c.post("/graphql", json=body, headers=h)
            assert r.status_code == 403, r.text
            assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        # an allowed hash cannot smuggle another query
        r = await c.post("/graphql", json={"query": other, "extensions": ext(ALLOWED)}, headers=h)
        assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"


def test_a_manifest_with_a_wrong_hash_stops_the_start(tmp_path):
    from api.graphql.persisted import load_manifest

    good = tmp_path / "good.json"
    good.write_text(json.dumps({sha(ALLOWED): ALLOWED}))
    assert load_manifest(str(good)) == {sha(ALLOWED): ALLOWED}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({sha(ALLOWED_VARS): ALLOWED}))
    with pytest.raises(ValueError, match="not the sha256"):
        load_manifest(str(bad))
