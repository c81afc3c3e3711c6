"""Profiles' grids, pins, lookups by username and counts (models/content/grid.py) over the real API,
PostgreSQL, Redis and the engagement store: what each kind of viewer sees, pinned first and
cursor pages that neither repeat nor skip, the pin rules, and REST and GraphQL answering alike."""

from __future__ import annotations

from uuid import UUID

import pytest_asyncio

from models.core.events import new_id
from models.engagement import FollowChange, ReactionChange
from tests.support.client import code, gql
from tests.support.factories import create_post, user


async def _post(client, author, **body) -> str:
    r = await client.post("/posts", json={"caption": "x", "visibility": "public", **body}, headers=author["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _all_pages(client, viewer, author_id, limit: int) -> list[str]:
    ids, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"/users/{author_id}/posts", params=params, headers=viewer["headers"])
        assert r.status_code == 200, r.text
        ids += [p["id"] for p in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


@pytest_asyncio.fixture
async def grid_world(client, svc):
    author, follower, member, stranger = [await user(client) for _ in range(4)]
    public = [await create_post(client, author, f"public {i}") for i in range(5)]
    followers_only = await _post(client, author, visibility="followers")
    r = await client.post(f"/users/{author['id']}/circles", json={"name": "close"}, headers=author["headers"])
    circle = r.json()["id"]
    r = await client.post(
        f"/users/{author['id']}/circles/{circle}/members",
        json={"user_id": str(member["id"])},
        headers=author["headers"],
    )
    assert r.status_code in (200, 201, 204), r.text
    in_circle = await _post(client, author, visibility="circle", circle_id=circle)
    story = await _post(client, author, kind="story")
    await svc.store.apply_follows([FollowChange(follower["id"], author["id"], True, new_id())])
    return {
        "author": author,
        "follower": follower,
        "member": member,
        "stranger": stranger,
        "public": public,
        "followers_only": followers_only,
        "circle": in_circle,
        "story": story,
    }


async def test_each_viewer_sees_their_grid_newest_first_without_stories(client, grid_world):
    w = grid_world
    newest_first_public = list(reversed(w["public"]))
    author_id = w["author"]["id"]
    assert await _all_pages(client, w["stranger"], author_id, 2) == newest_first_public
    assert await _all_pages(client, w["follower"], author_id, 2) == [w["followers_only"], *newest_first_public]
    assert await _all_pages(client, w["member"], author_id, 3) == [w["circle"], *newest_first_public]
    own = await _all_pages(client, w["author"], author_id, 50)
    assert own == [w["circle"], w["followers_only"], *newest_first_public]
    assert w["story"] not in own
    r = await client.get(f"/users/{author_id}/posts", headers=w["stranger"]["headers"])
    item = r.json()["items"][0]
    assert item["author"]["id"] == str(author_id) and "counters" in item and "viewer" in item  # post views


async def test_pins_come_first_and_their_rules(client, grid_world):
    w = grid_world
    author, headers = w["author"], w["author"]["headers"]
    p = w["public"]
    for post in (p[0], p[2], p[1]):
        assert (await client.put(f"/posts/{post}/pin", headers=headers)).status_code == 204
    assert (await client.put(f"/posts/{p[1]}/pin", headers=headers)).status_code == 204  # idempotent
    assert code(await client.put(f"/posts/{p[3]}/pin", headers=headers)) == (409, "pin_limit")
    assert code(await client.put(f"/posts/{w['story']}/pin", headers=headers)) == (409, "not_pinnable")
    assert code(await client.put(f"/posts/{p[3]}/pin", headers=w["stranger"]["headers"])) == (404, "post_not_found")
    assert code(await client.put("/posts/nope/pin", headers=headers)) == (400, "invalid_id")
    # most recently pinned first, then the rest newest first; small pages neither repeat nor skip
    expected = [p[1], p[2], p[0], p[4], p[3]]
    for limit in (1, 2, 3, 4, 20):
        assert await _all_pages(client, w["stranger"], author["id"], limit) == expected
    assert code(await client.delete(f"/posts/{p[2]}/pin", headers=w["stranger"]["headers"])) == (404, "post_not_found")
    assert (await client.delete(f"/posts/{p[2]}/pin", headers=headers)).status_code == 204
    assert (await client.delete(f"/posts/{p[2]}/pin", headers=headers)).status_code == 204  # idempotent
    assert (await client.put(f"/posts/{p[3]}/pin", headers=headers)).status_code == 204  # room again
    assert await _all_pages(client, w["stranger"], author["id"], 2) == [p[3], p[1], p[0], p[4], p[2]]


async def test_profile_by_username_with_counts(client, grid_world, svc):
    w = grid_world
    author = w["author"]
    await svc.store.apply_reactions(
        [ReactionChange(UUID(w["public"][0]), w["stranger"]["id"], "like", True, new_id())]
        + [ReactionChange(UUID(w["followers_only"]), w["follower"]["id"], "like", True, new_id())]
    )
    name = author["user"]["username"]
    r = await client.get(f"/users/by-username/{name.upper()}", headers=w["stranger"]["headers"])
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["user_id"] == str(author["id"]) and profile["username"] == name
    assert profile["counts"] == {"posts": 5, "followers": 1, "following": 0, "likes": 2}
    # posts: what the grid lists for you
    r = await client.get(f"/users/{author['id']}/profile", headers=w["follower"]["headers"])
    assert r.json()["counts"]["posts"] == 6
    assert code(await client.get("/users/by-username/nobody_here_x", headers=w["stranger"]["headers"])) == (
        404,
        "user_not_found",
    )
    assert code(await client.get(f"/users/{new_id()}/posts", headers=w["stranger"]["headers"])) == (
        404,
        "user_not_found",
    )
    assert code(await client.get("/users/bad/posts", headers=w["stranger"]["headers"])) == (400, "invalid_id")


async def test_a_block_hides_the_grid(client, grid_world):
    w = grid_world
    r = await client.post(f"/users/{w['stranger']['id']}/block", headers=w["author"]["headers"])
    assert r.status_code in (200, 201, 204), r.text
    r = await client.get(f"/users/{w['author']['id']}/posts", headers=w["stranger"]["headers"])
    assert code(r) == (404, "user_not_found")


async def test_graphql_user_posts_and_user_by_username(client, grid_world):
    w = grid_world
    data = await gql(
        client,
        w["follower"],
        """query($name: String!) { userByUsername(username: $name) {
             id profile { counts { posts followers following likes } }
             posts(limit: 2) { nextCursor items { id author { username } viewer { followingAuthor } } } } }""",
        {"name": w["author"]["user"]["username"]},
    )
    assert "errors" not in data, data
    u = data["data"]["userByUsername"]
    assert u["id"] == str(w["author"]["id"])
    assert u["profile"]["counts"]["posts"] == 6 and u["profile"]["counts"]["followers"] == 1
    assert [i["id"] for i in u["posts"]["items"]] == [w["followers_only"], w["public"][4]]
    assert u["posts"]["items"][0]["viewer"] == {"followingAuthor": True}
    assert u["posts"]["nextCursor"]
    missing = await gql(client, w["follower"], 'query { userByUsername(username: "no_such_user_q") { id } }')
    assert missing["errors"][0]["extensions"]["code"] == "user_not_found"
