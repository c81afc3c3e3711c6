"""GraphQL limits (api/graphql/limits.py): cost, depth, aliases, root mutation fields, document
size, introspection; each mutation field one write; anonymous requests per client IP.

An API of its own with small limits; each test talks from its own loopback address so the
per-IP counters do not mix. Daily windows: a test never straddles a window boundary."""

from __future__ import annotations

import httpx
import pytest

from infra.settings import Settings
from tests.support.factories import create_post, register
from tests.support.processes import start_api
from tests.support.stubs import ips


@pytest.fixture(scope="module")
def small_api(stack_env, log_dir):
    proc, base = start_api(
        stack_env,
        log_dir,
        GRAPHQL_MAX_COST="500",
        GRAPHQL_MAX_DEPTH="4",
        GRAPHQL_MAX_ALIASES="5",
        GRAPHQL_MAX_MUTATIONS="4",
        GRAPHQL_MAX_QUERY_CHARS="3000",
        GRAPHQL_MAX_TOKENS="300",
        GRAPHQL_INTROSPECTION="false",
        RATE_LIMIT_WRITE="6/1d",
        RATE_LIMIT_ANONYMOUS="4/1d",
    )
    yield base
    proc.stop()


@pytest.fixture
async def c(small_api):
    async with httpx.AsyncClient(
        base_url=small_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips))
    ) as client:
        yield client


async def post_gql(c: httpx.AsyncClient, query: str, user: dict | None = None, variables: dict | None = None):
    return await c.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=user["headers"] if user else {}
    )


def refused(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body.get("data") is None, body
    err = body["errors"][0]
    assert err["extensions"]["code"] == code and err["message"], body
    return err


async def test_cost_weighs_list_fields_by_their_limit(c):
    user = await register(c)
    q = "query($n: Int) { trending(limit: $n) { items { post { id caption } score } } }"
    assert "errors" not in (await post_gql(c, q, user, {"n": 20})).json()  # 20 x 6 fields = 120
    err = refused(await post_gql(c, q, user, {"n": 100}), 400, "query_too_costly")  # 600 > 500
    assert err["extensions"]["details"] == {"cost": 600, "limit": 500}
    # the same cost written as aliases of a cheap page is the same refusal
    five = " ".join(f"t{i}: trending(limit: 20) {{ items {{ post {{ id caption }} score }} }}" for i in range(5))
    refused(await post_gql(c, "{" + five + "}", user), 400, "query_too_costly")


async def test_depth_is_limited_through_fragments(c):
    user = await register(c)
    ok = "{ trending { items { post { id } } } }"  # 4 levels
    assert "errors" not in (await post_gql(c, ok, user)).json()
    deep = "fragment P on Post { counters { views } } { trending { items { post { ...P } } } }"  # 5
    refused(await post_gql(c, deep, user), 400, "query_too_deep")


async def test_aliases_and_root_mutation_fields_are_capped(c):
    user = await register(c)
    six = "{" + " ".join(f"m{i}: me {{ id }}" for i in range(6)) + "}"
    refused(await post_gql(c, six, user), 400, "too_many_aliases")
    post = await create_post(c, user)
    # five root fields, no alias: one written through a fragment on Mutation
    many = (
        "fragment S on Mutation { share(postId: $p) { eventId } } "
        "mutation($p: ID!) { share(postId: $p) { eventId } ...S "
        "giveFeedback(postId: $p, kind: HIDE) takeBackFeedback(postId: $p, kind: HIDE) "
        "recordView(postId: $p, watchedMs: 1) { counted } }"
    )
    refused(await post_gql(c, many, user, {"p": post}), 400, "too_many_mutations")


async def test_an_oversized_document_is_413(c):
    user = await register(c)
    big = "{ me { id } }" + " " * 3000
    refused(await post_gql(c, big, user), 413, "query_too_large")


async def test_every_mutation_field_is_one_write_rest_and_graphql_alike(c):
    user, author = await register(c), await register(c)
    post = await create_post(c, author)
    three = "mutation($p: ID!) {" + " ".join(f"{a}: share(postId: $p) {{ eventId }}" for a in "abc") + "}"
    r = await post_gql(c, three, user, {"p": post})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert r.headers["X-RateLimit-Limit"] == "6" and r.headers["X-RateLimit-Remaining"] == "3"
    # two REST writes leave one: a three-field mutation is refused whole, nothing runs
    for _ in range(2):  # counted once an hour (already), but each still a write
        rr = await c.post("/interactions/shares", json={"post_id": post}, headers=user["headers"])
        assert rr.status_code == 200 and rr.json()["counted"] is False, rr.text
    err = refused(await post_gql(c, three, user, {"p": post}), 429, "rate_limited")
    assert err["extensions"]["status"] == 429
    # a read is not a write
    assert (await post_gql(c, "{ me { id } }", user)).json()["data"]["me"]["id"] == user["user"]["id"]
    rr = await c.post("/interactions/shares", json={"post_id": post}, headers=user["headers"])
    assert rr.status_code == 429 and rr.json()["error"]["code"] == "rate_limited"
    # the budget is per user
    other = await register(c)
    assert "errors" not in (await post_gql(c, three, other, {"p": post})).json()


async def test_anonymous_requests_are_limited_per_client_ip(c, small_api):
    for n in range(4):
        r = await post_gql(c, "{ __typename }")
        assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}
        assert r.headers["X-RateLimit-Remaining"] == str(3 - n)
    r = await post_gql(c, "{ __typename }")
    refused(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # another address is served; an anonymous mutation counts each field
    async with httpx.AsyncClient(
        base_url=small_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips))
    ) as other:
        login = 'l{i}: login(input: {{email: "nobody@example.com", password: "whatever1"}}) {{ accessToken }}'
        r = await post_gql(other, "mutation {" + " ".join(login.format(i=i) for i in range(4)) + "}")
        refused(r, 429, "rate_limited")  # 1 request + 4 fields > 4


async def test_introspection_and_the_explorer_follow_the_setting(c):
    user = await register(c)
    refused(await post_gql(c, "{ __schema { queryType { name } } }", user), 400, "INTROSPECTION_DISABLED")
    refused(await post_gql(c, '{ __type(name: "Post") { name } }', user), 400, "INTROSPECTION_DISABLED")
    assert (await post_gql(c, "{ __typename }", user)).json()["data"] == {"__typename": "Query"}
    r = await c.get("/graphql")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_introspection_is_off_in_production_by_default(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    for env, on in (("production", False), ("development", True), ("test", True)):
        monkeypatch.setenv("APP_ENV", env)
        s = Settings()
        assert s.graphql_introspection_enabled is on and s.graphiql_enabled is on
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("GRAPHQL_INTROSPECTION", "true")
    assert Settings().graphql_introspection_enabled
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("GRAPHQL_INTROSPECTION", "false")
    assert not Settings().graphql_introspection_enabled and not Settings().graphiql_enabled


async def test_too_many_tokens_is_413(c):
    user = await register(c)
    many = "{ " + "a " * 400 + "}"  # 800 characters, 402 tokens
    refused(await post_gql(c, many, user), 413, "query_too_large")
