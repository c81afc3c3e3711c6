"""Bookmarks (models/content/bookmarks.py) over the real API and PostgreSQL: idempotent writes,
the private list newest first in pages, posts you may no longer see left out, bad input."""

from __future__ import annotations

from models.core.events import new_id
from tests.support.client import code, gql
from tests.support.factories import create_post, user


async def _list(client, who, limit=20) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/users/me/bookmarks", params=params, headers=who["headers"])
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_bookmarks_are_idempotent_private_and_newest_first(client):
    me, author, other = await user(client), await user(client), await user(client)
    a, b, c = [await create_post(client, author, f"post {i}") for i in range(3)]
    for post in (b, a, c, a):  # a again: idempotent, keeps its first time
        assert (await client.put(f"/posts/{post}/bookmark", headers=me["headers"])).status_code == 204
    items = await _list(client, me)
    assert [i["id"] for i in items] == [c, a, b]
    assert all(i["viewer"]["bookmarked"] for i in items) and items[0]["author"]["id"] == str(author["id"])
    assert [i["id"] for i in await _list(client, me, limit=1)] == [c, a, b]  # pages neither repeat nor skip
    assert await _list(client, other) == []  # only ever your own
    assert (await client.delete(f"/posts/{a}/bookmark", headers=me["headers"])).status_code == 204
    assert (await client.delete(f"/posts/{a}/bookmark", headers=me["headers"])).status_code == 204
    assert [i["id"] for i in await _list(client, me)] == [c, b]
    r = await client.get(f"/posts/{a}", headers=me["headers"])
    assert r.json()["viewer"]["bookmarked"] is False


async def test_bookmarks_of_posts_you_cannot_see(client):
    me, author = await user(client), await user(client)
    post = await create_post(client, author, "soon private")
    r = await client.post("/posts", json={"caption": "hidden", "visibility": "followers"}, headers=author["headers"])
    hidden = r.json()["id"]
    assert code(await client.put(f"/posts/{hidden}/bookmark", headers=me["headers"])) == (404, "post_not_found")
    assert code(await client.put(f"/posts/{new_id()}/bookmark", headers=me["headers"])) == (404, "post_not_found")
    assert code(await client.put("/posts/xyz/bookmark", headers=me["headers"])) == (400, "invalid_id")
    assert code(await client.delete("/posts/xyz/bookmark", headers=me["headers"])) == (400, "invalid_id")
    assert (await client.put(f"/posts/{post}/bookmark", headers=me["headers"])).status_code == 204
    # the author makes it followers-only: it leaves my list (kept, should it become visible again)
    r = await client.patch(f"/posts/{post}", json={"visibility": "followers"}, headers=author["headers"])
    assert r.status_code == 200, r.text
    assert await _list(client, me) == []
    r = await client.patch(f"/posts/{post}", json={"visibility": "public"}, headers=author["headers"])
    assert [i["id"] for i in await _list(client, me)] == [post]
    assert (await client.get("/users/me/bookmarks")).status_code == 401


async def test_graphql_bookmarks(client):
    me, author = await user(client), await user(client)
    post = await create_post(client, author, "graphql")
    done = await gql(client, me, "mutation($id: ID!) { bookmarkPost(id: $id) }", {"id": post})
    assert done["data"]["bookmarkPost"] is True
    data = await gql(client, me, "{ bookmarks(limit: 5) { nextCursor items { id viewer { bookmarked } } } }")
    assert data["data"]["bookmarks"] == {"nextCursor": None, "items": [{"id": post, "viewer": {"bookmarked": True}}]}
    done = await gql(client, me, "mutation($id: ID!) { unbookmarkPost(id: $id) }", {"id": post})
    assert done["data"]["unbookmarkPost"] is True
    data = await gql(client, me, "{ bookmarks { items { id } } }")
    assert data["data"]["bookmarks"]["items"] == []
