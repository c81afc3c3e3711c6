"""The API as an Apollo Federation 2 subgraph: its SDL composes with Apollo's own composition
(@apollo/composition from npm, pinned by tests/federation/package-lock.json), and `_entities`
loads each entity by key with its query field's visibility (hidden or unknown: null).

The SDL route and `_service` answer only with GRAPHQL_INTROSPECTION (a second API with it off)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from api.graphql.schema import SDL
from tests.support.factories import create_post, register
from tests.support.processes import start_api

HERE = Path(__file__).resolve().parent.parent / "federation"
ENTITIES = {"User": ["id"], "Post": ["id"], "Comment": ["id"], "Video": ["id"], "SubscriptionPlan": ["creatorId"]}
# The realtime root type as the realtime branch adds it (sdl/realtime.graphql): the subgraph must
# keep composing with a `Subscription` root.
REALTIME = """
type Subscription {
  postCounters(postId: ID!): Counters!
  notifications: Notification!
  conversationEvents(conversationId: ID!): ConversationEvent!
  presence(userId: ID!): Presence!
}
union ConversationEvent = MessageNew | Typing | MessageRead
type MessageNew { message: Message! }
type Typing { conversationId: ID!, userId: ID! }
type MessageRead { conversationId: ID!, readerId: ID!, upToMessageId: ID! }
"""


@pytest.fixture(scope="module")
def compose():
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node 20 and npm are needed for the composition check (make test-deps)"
    if not (HERE / "node_modules" / "@apollo" / "composition").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=300)

    def run(*subgraphs: tuple[str, str]) -> dict:
        payload = json.dumps([{"name": name, "sdl": sdl} for name, sdl in subgraphs])
        out = subprocess.run(
            [node, "compose.mjs"], cwd=HERE, input=payload, capture_output=True, text=True, timeout=120, check=True
        )
        return json.loads(out.stdout)

    return run


def test_the_subgraph_composes_into_a_supergraph_with_its_entities(compose):
    result = compose(("daira", SDL))
    assert result["errors"] == []
    assert result["entities"] == ENTITIES
    assert '@link(url: "https://specs.apollo.dev/join/v0.' in result["supergraph"]


def test_it_still_composes_with_the_realtime_subscription_root(compose):
    sdl = SDL if re.search(r"\btype Subscription\s*[{@]", SDL) else SDL + REALTIME
    result = compose(("daira", sdl))
    assert result["errors"] == []
    assert "subscription: Subscription" in result["supergraph"]


def test_another_subgraph_extends_the_entities_and_conflicts_are_reported(compose):
    reviews = """
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
    type Post @key(fields: "id") { id: ID!, reviewScore: Float }
    type User @key(fields: "id") { id: ID!, reviewCount: Int! }
    type Query { topReviewed: [Post!]! }
    """
    result = compose(("daira", SDL), ("reviews", reviews))
    assert result["errors"] == []
    assert 'join__type(graph: REVIEWS, key: "id")' in result["supergraph"]
    assert "reviewScore" in result["supergraph"]
    # the check can fail: a field typed differently by two subgraphs does not compose
    clash = reviews.replace("reviewCount: Int!", "username: Int!")
    errors = compose(("daira", SDL), ("reviews", clash))["errors"]
    assert errors and any("username" in e for e in errors)


async def gql(client: httpx.AsyncClient, query: str, user: dict | None = None, variables: dict | None = None):
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=user["headers"] if user else {}
    )
    assert r.status_code in (200, 400), r.text
    return r.json()


ENTITIES_Q = """query($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on User { id username email }
  ... on Post { id caption authorId }
  ... on Comment { id body postId }
  ... on SubscriptionPlan { creatorId price periodDays }
  ... on Video { id status }
} }"""


async def test_entities_resolve_by_key_and_hidden_ones_are_null(client):
    author, fan, stranger = await register(client), await register(client), await register(client)
    a, f = author["user"]["id"], fan["user"]["id"]
    public = await create_post(client, author, "عام للجميع")
    r = await client.post(
        "/posts", json={"caption": "followers only", "visibility": "followers"}, headers=author["headers"]
    )
    assert r.status_code == 201, r.text
    private = r.json()["id"]
    r = await client.post("/interactions/comments", json={"post_id": public, "body": "تعليق"}, headers=fan["headers"])
    assert r.status_code == 201, r.text
    comment = r.json()["id"]
    r = await client.put(f"/creators/{a}/subscription-plan", json={"price": 2500}, headers=author["headers"])
    assert r.status_code == 200, r.text

    reps = [
        {"__typename": "User", "id": a},
        {"__typename": "Post", "id": public},
        {"__typename": "Post", "id": private},
        {"__typename": "Comment", "id": comment},
        {"__typename": "SubscriptionPlan", "creatorId": a},
        {"__typename": "SubscriptionPlan", "creatorId": f},  # no plan
        {"__typename": "Video", "id": "00000000-0000-0000-0000-000000000000"},
        {"__typename": "Post", "id": "not-a-uuid"},
    ]
    body = await gql(client, ENTITIES_Q, stranger, {"r": reps})
    assert "errors" not in body, body
    got = body["data"]["_entities"]
    assert got[0] == {"__typename": "User", "id": a, "username": author["user"]["username"], "email": None}
    assert got[1] == {"__typename": "Post", "id": public, "caption": "عام للجميع", "authorId": a}
    assert got[2] is None  # followers only: the stranger may not see it
    assert got[3] == {"__typename": "Comment", "id": comment, "body": "تعليق", "postId": public}
    assert got[4] == {"__typename": "SubscriptionPlan", "creatorId": a, "price": 2500, "periodDays": 30}
    assert got[5:] == [None, None, None]

    # the author sees the private post and their own email; anonymous callers see public entities only
    mine = (await gql(client, ENTITIES_Q, author, {"r": reps[:3]}))["data"]["_entities"]
    assert mine[0]["email"] == author["user"]["email"] and mine[2]["id"] == private
    anon = (await gql(client, ENTITIES_Q, None, {"r": reps[:5]}))["data"]["_entities"]
    assert anon[1]["id"] == public and anon[2] is None and anon[4] is None  # a plan: signed-in users only

    # a block hides the user, as user(id) does
    r = await client.post(f"/users/{f}/block", headers=author["headers"])
    assert r.status_code in (200, 201, 204), r.text
    blocked = (await gql(client, ENTITIES_Q, fan, {"r": [{"__typename": "User", "id": a}]}))["data"]["_entities"]
    assert blocked == [None]


async def test_one_request_looks_up_at_most_graphql_max_entities(client):
    user = await register(client)
    reps = [{"__typename": "Post", "id": "00000000-0000-0000-0000-000000000000"}] * 101
    body = await gql(client, ENTITIES_Q, user, {"r": reps})
    assert body["data"] is None
    err = body["errors"][0]
    assert err["extensions"]["code"] == "too_many_entities" and err["extensions"]["details"] == {"limit": 100}
    assert (await gql(client, ENTITIES_Q, user, {"r": reps[:100]}))["data"]["_entities"] == [None] * 100


async def test_service_sdl_and_the_schema_route_when_introspection_is_on(client):
    r = await client.get("/graphql/schema")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == SDL and '@key(fields: "id")' in r.text and "type User" in r.text
    body = await gql(client, "{ _service { sdl } }", await register(client))
    assert body["data"]["_service"]["sdl"] == SDL


@pytest.fixture(scope="module")
def closed_api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir, GRAPHQL_INTROSPECTION="false")
    yield base
    proc.stop()


async def test_with_introspection_off_the_schema_is_not_published(closed_api):
    async with httpx.AsyncClient(base_url=closed_api, timeout=15) as c:
        r = await c.get("/graphql/schema")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        user = await register(c)
        body = await gql(c, "{ _service { sdl } }", user)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED", body
        body = await gql(c, "{ __schema { queryType { name } } }", user)
        assert body["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED", body
        # entities still resolve: a gateway needs them, not the schema
        post = await create_post(c, user)
        body = await gql(c, ENTITIES_Q, user, {"r": [{"__typename": "Post", "id": post}]})
        assert body["data"]["_entities"][0]["id"] == post
        assert (await c.get("/graphql")).status_code == 404  # GraphiQL too
