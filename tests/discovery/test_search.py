"""Search (models/discovery/search.py): the index fed directly (the search_index agent without a
broker) and through the real worker, GET /search and GraphQL `search` against the real API.

The database is shared by the whole session, so each test scopes its queries with a word of
its own (`tok`)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from models.core.events import Event, received
from models.core.text import normalize
from models.discovery import search
from streams.agents.hashtags import hashtags as hashtags_agent
from streams.agents.search_index import search_index
from tests.support.client import code_of, gql
from tests.support.factories import create_post, user
from tests.support.waiting import equals, wait_for


def tok() -> str:
    return "zq" + uuid4().hex[:8]


def created(post_id: str, author: UUID, caption: str, visibility: str = "public") -> Event:
    return Event(
        "post.created",
        {"post_id": post_id, "author_id": str(author), "visibility": visibility, "caption": caption},
    )


def event(etype: str, post_id: str, author: UUID) -> Event:
    return Event(etype, {"post_id": post_id, "author_id": str(author)})


async def ids(svc, viewer, q: str, **kw) -> list[str]:
    """The text half alone (the semantic half: tests/discovery/test_search_semantic.py)."""
    page = await search.search(svc, viewer, q=q, type="posts", mode="text", **kw)
    return [p["id"] for p in page["items"]]


async def post(client, u, caption: str, visibility: str = "public") -> str:
    r = await client.post("/posts", json={"caption": caption, "visibility": visibility}, headers=u["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_search_norm_in_sql_is_normalize(db):
    """Display names are normalised in SQL (search_norm, migration 0021) and queries in Python:
    the two must agree."""
    for s in ["أحمد", "إيمان", "آمال", "مصطفى", "فاطمة", "مُحَمَّد", "مـــصر", "٢٠٢٦ Cairo", "ٱلله", "Ahmed ALI"]:
        assert await db.fetchval("SELECT search_norm($1)", s) == normalize(s), s


async def test_arabic_and_english_posts_found_by_the_agent_without_broker(svc, client):
    u = await user(client)
    t = tok()
    arabic = await create_post(client, u, f"أحمد يطبخ الكشري في القاهرة #مصر {t}")
    english = await create_post(client, u, f"Cats playing in the garden #Pets {t}")
    other = await create_post(client, u, f"nothing to see {t}")
    await search_index(
        [received(created(p, u["id"], "x")) for p in (arabic, english, other)],
        svc,
    )
    # Arabic normalisation: أحمد indexed, احمد asked (and the reverse); ة/ه; the hashtag as a word
    assert await ids(svc, None, f"احمد {t}") == [arabic]
    assert await ids(svc, None, f"القاهره {t}") == [arabic]
    assert await ids(svc, None, f"#مصر {t}") == [arabic]
    assert await ids(svc, None, f"مِصْر {t}") == [arabic]
    # English stemming: "cat" finds "Cats", "play" finds "playing"; the hashtag too
    assert await ids(svc, None, f"cat play {t}") == [english]
    assert await ids(svc, None, f"pets {t}") == [english]
    assert set(await ids(svc, None, t)) == {arabic, english, other}


async def test_visibility_blocks_and_mutes(svc, client):
    author, stranger, blocked, muter = [await user(client) for _ in range(4)]
    t = tok()
    public = await post(client, author, f"public {t}")
    followers = await post(client, author, f"followers only {t}", "followers")
    await search_index([received(created(p, author["id"], "x")) for p in (public, followers)], svc)
    assert await ids(svc, None, t) == [public]  # anonymous: public only
    assert await ids(svc, stranger["id"], t) == [public]  # not a follower
    assert set(await ids(svc, author["id"], t)) == {public, followers}  # the author sees both
    r = await client.post(f"/users/{author['id']}/block", headers=blocked["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert await ids(svc, blocked["id"], t) == []  # blocking hides the other's posts
    r = await client.post(f"/users/{author['id']}/mute", headers=muter["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert await ids(svc, muter["id"], t) == []
    # users: the blocker does not find the author, the stranger does
    found = await search.search(svc, blocked["id"], q=author["user"]["username"], type="users")
    assert author["user"]["username"] not in [x["username"] for x in found["items"]]
    found = await search.search(svc, stranger["id"], q=author["user"]["username"], type="users")
    assert found["items"][0]["username"] == author["user"]["username"]


async def test_removed_stays_out_until_restored_and_deleted_leaves(svc, client):
    u = await user(client)
    t = tok()
    p = await create_post(client, u, f"moderated {t}")
    await search_index([received(created(p, u["id"], "x"))], svc)
    assert await ids(svc, None, t) == [p]
    # removed, then a late edit event: the tombstone holds
    await search_index([received(event("post.removed", p, u["id"]))], svc)
    assert await ids(svc, None, t) == []
    await search_index([received(created(p, u["id"], "x"))], svc)
    assert await ids(svc, None, t) == []
    await search_index([received(event("post.restored", p, u["id"]))], svc)
    assert await ids(svc, None, t) == [p]
    r = await client.delete(f"/posts/{p}", headers=u["headers"])
    assert r.status_code == 204, r.text
    delete = Event("post.deleted", {"post_id": p, "author_id": str(u["id"])})
    await search_index([received(delete)], svc)
    assert await ids(svc, None, t) == []


async def test_pages_with_cursors(svc, client):
    u = await user(client)
    t = tok()
    made = [await create_post(client, u, f"page {t} {'again ' * i}") for i in range(5)]
    await search_index([received(created(p, u["id"], "x")) for p in made], svc)
    seen, cursor = [], None
    while True:
        page = await search.search(svc, None, q=t, type="posts", cursor=cursor, limit=2, mode="text")
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


async def test_users_prefix_fuzzy_and_arabic_display_names(svc, client):
    t = tok()
    u = await user(client)
    r = await client.patch(f"/users/{u['id']}/profile", json={"display_name": f"أحمد {t}"}, headers=u["headers"])
    assert r.status_code == 200, r.text
    name = u["user"]["username"]
    for q in (name[:6], name[:-1] + "x", f"احمد {t}", f"@{name}"):
        page = await search.search(svc, None, q=q, type="users")
        assert u["user"]["id"] in [x["id"] for x in page["items"]], q
    first = (await search.search(svc, None, q=f"احمد {t}", type="users"))["items"][0]
    assert set(first) >= {"id", "username", "display_name", "avatar_url", "badges", "verified"}


async def test_hashtags_by_prefix_with_counts(svc, client):
    """Counts come from the hashtag index (the hashtags agent, fed here without a broker):
    public posts only."""
    u = await user(client)
    t = tok()
    made = [(await create_post(client, u, c), c, "public") for c in (f"#{t}food yum", f"#{t}food yum", f"#{t}fun")]
    made.append((await post(client, u, f"#{t}secret", "followers"), f"#{t}secret", "followers"))
    await hashtags_agent([received(created(pid, u["id"], c, vis)) for pid, c, vis in made], svc)
    assert (await search.search(svc, None, q="hello world", type="hashtags"))["items"] == []  # cannot start a tag
    page = await search.search(svc, None, q=f"#{t}", type="hashtags")
    assert page["items"] == [{"tag": f"{t}food", "post_count": 2}, {"tag": f"{t}fun", "post_count": 1}]
    first = await search.search(svc, None, q=t, type="hashtags", limit=1)
    assert first["items"] == [{"tag": f"{t}food", "post_count": 2}]
    rest = await search.search(svc, None, q=t, type="hashtags", limit=1, cursor=first["next_cursor"])
    assert rest == {"items": [{"tag": f"{t}fun", "post_count": 1}], "next_cursor": None}


@pytest.mark.parametrize(
    "params, code",
    [
        ({"type": "posts"}, "invalid_query"),
        ({"type": "posts", "q": "   "}, "invalid_query"),
        ({"type": "posts", "q": "x" * 201}, "invalid_query"),
        ({"q": "cairo"}, "invalid_type"),
        ({"q": "cairo", "type": "videos"}, "invalid_type"),
        ({"q": "cairo", "type": "posts", "cursor": "!!"}, "invalid_cursor"),
        ({"q": "cairo", "type": "posts", "mode": "vector"}, "invalid_mode"),
    ],
)
async def test_bad_input_is_400(client, params, code):
    assert code_of(await client.get("/search", params=params), 400) == code


async def test_rest_and_graphql_through_the_worker(client, worker):
    """The real path: the API writes, the outbox relays to the broker, the worker's search_index
    agent indexes; deletion takes the post out of results."""
    u = await user(client)
    t = tok()
    p = await create_post(client, u, f"إيمان تحب #القراءة {t}")

    async def found(q: str) -> list[str]:
        r = await client.get("/search", params={"q": q, "type": "posts", "mode": "text"})
        assert r.status_code == 200, r.text
        assert r.json()["semantic"] is False
        return [x["id"] for x in r.json()["items"]]

    await wait_for(lambda: equals(found(f"ايمان {t}"), [p]), timeout=30, what="the post indexed")
    r = await client.get("/search", params={"q": f"ايمان {t}", "type": "posts", "mode": "text"})
    view = r.json()["items"][0]
    assert view["author"]["username"] == u["user"]["username"] and "counters" in view and view["viewer"] is None
    data = await gql(
        client,
        u,
        "query($q: String!) { search(q: $q, type: POSTS, mode: TEXT) { posts { id caption author { username } viewer"
        " { bookmarked } } users { id } nextCursor } }",
        {"q": f"القراءه {t}"},
    )
    assert "errors" not in data, data
    got = data["data"]["search"]
    assert [x["id"] for x in got["posts"]] == [p] and got["users"] == []
    assert got["posts"][0]["viewer"] == {"bookmarked": False}
    data = await gql(
        client,
        u,
        "query($q: String!) { search(q: $q, type: USERS) { users { username displayName } } }",
        {"q": u["user"]["username"]},
    )
    assert data["data"]["search"]["users"][0]["username"] == u["user"]["username"]
    r = await client.delete(f"/posts/{p}", headers=u["headers"])
    assert r.status_code == 204, r.text
    await wait_for(lambda: equals(found(t), []), timeout=30, what="the deleted post out of results")
