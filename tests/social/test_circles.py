"""Circles (owner-only changes) and the restricted post visibilities, enforced in every read path:
GET /posts/{id}, its counters, GraphQL post, and reacting."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest_asyncio

from infra.services import Services
from infra.settings import get_settings
from models.core.errors import Conflict
from models.social import circles
from tests.support.client import gql
from tests.support.factories import register, uid
from tests.support.waiting import wait_for


async def new_circle(client, owner, name: str = "close friends") -> str:
    r = await client.post(f"/users/{uid(owner)}/circles", json={"name": name}, headers=owner["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def add(client, owner, circle: str, member) -> int:
    r = await client.post(
        f"/users/{uid(owner)}/circles/{circle}/members", json={"user_id": uid(member)}, headers=owner["headers"]
    )
    return r.status_code


async def post_as(client, user, **body) -> str:
    r = await client.post("/posts", json={"caption": "for some", **body}, headers=user["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def reads(client, user, post: str) -> dict:
    """Every read path of one post, as `user`: status (or GraphQL error code) per path."""
    out = {
        "rest": (await client.get(f"/posts/{post}", headers=user["headers"])).status_code,
        "counters": (await client.get(f"/posts/{post}/counters", headers=user["headers"])).status_code,
        "react": (
            await client.post("/interactions/reactions", json={"post_id": post}, headers=user["headers"])
        ).status_code,
    }
    res = await gql(client, user, "query($id: ID!) { post(id: $id) { id counters { likes } } }", {"id": post})
    out["graphql"] = 200 if res.get("data", {}).get("post") else res["errors"][0]["extensions"]["code"]
    return out


VISIBLE = {"rest": 200, "counters": 200, "react": 202, "graphql": 200}
HIDDEN = {"rest": 404, "counters": 404, "react": 404, "graphql": "post_not_found"}


async def test_circle_owner_only_changes(client):
    owner, other, member = await register(client), await register(client), await register(client)
    circle = await new_circle(client, owner)
    base = f"/users/{uid(owner)}/circles"
    r = await client.get(base, headers=owner["headers"])
    assert [(c["id"], c["name"], c["member_count"]) for c in r.json()["items"]] == [(circle, "close friends", 0)]
    assert await add(client, owner, circle, member) == 201
    assert await add(client, owner, circle, member) == 200  # already in
    # someone else: 403 not_owner on every circle path, whatever the circle id
    for method, path, body in (
        ("GET", base, None),
        ("POST", base, {"name": "mine now"}),
        ("GET", f"{base}/{circle}/members", None),
        ("POST", f"{base}/{circle}/members", {"user_id": uid(other)}),
        ("POST", f"{base}/{uuid4()}/members", {"user_id": uid(other)}),
        ("DELETE", f"{base}/{circle}/members/{uid(member)}", None),
    ):
        r = await client.request(method, path, json=body, headers=other["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner", (method, path, r.text)
    # unknown owner / unknown circle / unknown member: 404
    r = await client.get(f"/users/{uuid4()}/circles", headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.get(f"{base}/{uuid4()}/members", headers=owner["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "circle_not_found"
    r = await client.post(f"{base}/{circle}/members", json={"user_id": str(uuid4())}, headers=owner["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.delete(f"{base}/{circle}/members/{uid(other)}", headers=owner["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "member_not_found"
    # and the rest of the abuse table
    r = await client.post(f"{base}/{circle}/members", json={"user_id": uid(owner)}, headers=owner["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "cannot_add_self"
    r = await client.post(base, json={"name": "Close Friends"}, headers=owner["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "circle_name_taken"
    r = await client.post(base, json={"name": ""}, headers=owner["headers"])
    assert r.status_code == 422
    r = await client.get(f"{base}/{circle}/members", headers=owner["headers"])
    assert [i["user"]["id"] for i in r.json()["items"]] == [uid(member)]
    assert (await client.delete(f"{base}/{circle}/members/{uid(member)}", headers=owner["headers"])).status_code == 204
    # a block stands between owner and member: refused
    blocker = await register(client)
    assert (await client.post(f"/users/{uid(owner)}/block", headers=blocker["headers"])).status_code == 204
    assert await add(client, owner, circle, blocker) == 403


async def test_circle_posts_are_for_members_only_in_every_read_path(client):
    owner, member, outsider = await register(client), await register(client), await register(client)
    circle = await new_circle(client, owner)
    assert await add(client, owner, circle, member) == 201
    post = await post_as(client, owner, visibility="circle", circle_id=circle)
    r = await client.get(f"/posts/{post}", headers=member["headers"])
    assert r.json()["visibility"] == "circle" and r.json()["circle_id"] == circle
    assert await reads(client, member, post) == VISIBLE
    assert await reads(client, outsider, post) == HIDDEN
    assert await reads(client, owner, post) == VISIBLE
    # removed from the circle: hidden from then on
    r = await client.delete(f"/users/{uid(owner)}/circles/{circle}/members/{uid(member)}", headers=owner["headers"])
    assert r.status_code == 204
    assert await reads(client, member, post) == HIDDEN
    # a block removes the member from the blocker's circles
    assert await add(client, owner, circle, member) == 201
    assert (await client.post(f"/users/{uid(owner)}/block", headers=member["headers"])).status_code == 204
    r = await client.get(f"/users/me/circles/{circle}/members", headers=owner["headers"])
    assert r.json()["items"] == []


async def test_posting_to_a_circle_needs_your_own_circle(client):
    owner, other = await register(client), await register(client)
    circle = await new_circle(client, owner)
    r = await client.post("/posts", json={"visibility": "circle", "circle_id": circle}, headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "circle_not_found"
    for body in (
        {"visibility": "circle"},
        {"visibility": "public", "circle_id": circle},
        {"visibility": "followers", "circle_id": circle},
        {"visibility": "circle", "circle_id": "x"},
    ):
        r = await client.post("/posts", json=body, headers=owner["headers"])
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", body


async def test_graphql_circles_and_circle_posts(client):
    owner, member, outsider = await register(client), await register(client), await register(client)
    res = await gql(client, owner, 'mutation { createCircle(name: "gql circle") { id name memberCount } }')
    circle = res["data"]["createCircle"]["id"]
    res = await gql(
        client,
        owner,
        "mutation($c: ID!, $u: ID!) { addCircleMember(circleId: $c, userId: $u) }",
        {"c": circle, "u": uid(member)},
    )
    assert res["data"]["addCircleMember"] is True
    res = await gql(client, owner, "{ circles { id memberCount } }")
    assert res["data"]["circles"] == [{"id": circle, "memberCount": 1}]
    res = await gql(
        client, owner, "query($c: ID!) { circleMembers(circleId: $c) { items { user { id } } } }", {"c": circle}
    )
    assert [i["user"]["id"] for i in res["data"]["circleMembers"]["items"]] == [uid(member)]
    res = await gql(
        client, outsider, "query($c: ID!) { circleMembers(circleId: $c) { items { user { id } } } }", {"c": circle}
    )
    assert res["errors"][0]["extensions"]["code"] == "circle_not_found"  # not among *your* circles
    create = "mutation($i: CreatePostInput!) { createPost(input: $i) { id visibility circleId } }"
    res = await gql(client, owner, create, {"i": {"caption": "gql", "visibility": "circle", "circleId": circle}})
    post = res["data"]["createPost"]
    assert post["visibility"] == "circle" and post["circleId"] == circle
    res = await gql(client, outsider, create, {"i": {"visibility": "circle", "circleId": circle}})
    assert res["errors"][0]["extensions"]["code"] == "circle_not_found"
    res = await gql(client, owner, create, {"i": {"visibility": "circle"}})
    assert res["errors"][0]["extensions"]["code"] == "validation_error"
    assert (await reads(client, member, post["id"]))["graphql"] == 200
    assert (await reads(client, outsider, post["id"]))["graphql"] == "post_not_found"


async def test_followers_only_posts(client, worker):
    author, fan, stranger = await register(client), await register(client), await register(client)
    post = await post_as(client, author, visibility="followers")
    assert await reads(client, fan, post) == HIDDEN
    assert (await client.post(f"/users/{uid(author)}/follow", headers=fan["headers"])).status_code == 202
    await wait_for(lambda: _status(client, fan, post, 200), what="follow applied")
    assert await reads(client, fan, post) == VISIBLE
    assert await reads(client, stranger, post) == HIDDEN
    assert (await client.delete(f"/users/{uid(author)}/follow", headers=fan["headers"])).status_code == 202
    await wait_for(lambda: _status(client, fan, post, 404), what="unfollow applied")


async def _status(client, user, post, want: int) -> bool:
    return (await client.get(f"/posts/{post}", headers=user["headers"])).status_code == want


@pytest_asyncio.fixture
async def small_svc(stack_env):
    settings = get_settings().model_copy(update={"circles_max": 2, "circle_members_max": 3})
    s = await Services.start(settings, relay=False)
    yield s
    await s.stop()


async def test_circle_limits_hold_under_concurrency(client, small_svc):
    owner = await register(client)
    others = [await register(client) for _ in range(6)]
    me = UUID(uid(owner))
    made = await asyncio.gather(
        *(circles.create_circle(small_svc, viewer_id=me, owner_id=me, name=f"c{i}") for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(m, dict) for m in made) == 2
    assert all(m.code == "circle_limit_reached" for m in made if isinstance(m, Conflict))
    circle = UUID(next(m for m in made if isinstance(m, dict))["id"])
    added = await asyncio.gather(
        *(
            circles.add_member(small_svc, viewer_id=me, owner_id=me, circle_id=circle, member_id=UUID(uid(o)))
            for o in others
        ),
        return_exceptions=True,
    )
    assert added.count(True) == 3
    assert all(isinstance(a, Conflict) and a.code == "circle_member_limit_reached" for a in added if a is not True)
