"""Duets and stitches over the real API, PostgreSQL and Redis: making them (range rules, the
source's switches, visibility, blocks), listing them on the source (type filter, keyset pages,
visibility), GraphQL, and the notifications agent fed post.created events directly (no broker).
Videos are inserted ready (the pipeline itself is tests/media/test_media_pipeline.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from models.core.events import Event, new_id, received
from models.core.topics import validate_payload
from models.media.videos import Video
from models.messaging import notifications
from models.social import blocking
from streams.agents.notifications import notifications as notifications_agent
from tests.support.client import code
from tests.support.factories import user


async def ready_video(svc, owner: dict, duration: float = 30.0) -> str:
    vid = new_id()
    async with svc.sessions() as s, s.begin():
        s.add(Video(id=vid, owner_id=owner["id"], status="ready", progress=100, size=1, duration=duration))
    return str(vid)


async def video_post(client, svc, owner: dict, visibility: str = "public", duration: float = 30.0) -> str:
    r = await client.post(
        "/posts",
        json={"visibility": visibility, "video_id": await ready_video(svc, owner, duration)},
        headers=owner["headers"],
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def remix(client, svc, u: dict, source: str, type: str, start: int, end: int, visibility: str = "public"):
    return await client.post(
        "/posts",
        headers=u["headers"],
        json={
            "visibility": visibility,
            "video_id": await ready_video(svc, u),
            "remix": {"type": type, "source_post_id": source, "start_ms": start, "end_ms": end},
        },
    )


async def listed(client, viewer: dict, source: str, **params) -> dict:
    r = await client.get(f"/posts/{source}/remixes", params=params, headers=viewer["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def test_duet_and_stitch_are_made_and_listed_on_the_source(client, svc):
    owner, dueter, stitcher, private, viewer = [await user(client) for _ in range(5)]
    source = await video_post(client, svc, owner)
    d = await remix(client, svc, dueter, source, "duet", 0, 30_000)  # a duet may take the whole video
    assert d.status_code == 201, d.text
    assert d.json()["remix"] == {"type": "duet", "source_post_id": source, "start_ms": 0, "end_ms": 30_000}
    s = await remix(client, svc, stitcher, source, "stitch", 2_000, 7_000)  # exactly 5 s
    assert s.status_code == 201, s.text
    # a followers-only duet: its author sees it in the list, a stranger does not
    hidden = await remix(client, svc, private, source, "duet", 1_000, 2_000, visibility="followers")
    assert hidden.status_code == 201, hidden.text
    duet, stitch, hidden = d.json()["id"], s.json()["id"], hidden.json()["id"]

    page = await listed(client, viewer, source)
    assert [p["id"] for p in page["items"]] == [stitch, duet] and page["next_cursor"] is None
    assert page["items"][0]["remix"] == {"type": "stitch", "source_post_id": source, "start_ms": 2_000, "end_ms": 7_000}
    assert [p["id"] for p in (await listed(client, private, source))["items"]] == [hidden, stitch, duet]
    assert [p["id"] for p in (await listed(client, viewer, source, type="duet"))["items"]] == [duet]
    # keyset pages: one a page, a remix made between pages lands before the cursor
    first = await listed(client, viewer, source, limit=1)
    assert [p["id"] for p in first["items"]] == [stitch] and first["next_cursor"]
    late = await remix(client, svc, dueter, source, "duet", 0, 1_000)
    assert late.status_code == 201, late.text
    second = await listed(client, viewer, source, limit=1, cursor=first["next_cursor"])
    assert [p["id"] for p in second["items"]] == [duet] and second["next_cursor"] is None
    bad = await client.get(f"/posts/{source}/remixes", params={"cursor": "nope"}, headers=viewer["headers"])
    assert code(bad) == (400, "invalid_cursor")

    # GraphQL reads the same list and the remix reference
    q = """query($id: ID!) { post(id: $id) { remixes(type: STITCH) { items { id remix { type sourcePostId
           startMs endMs } } nextCursor } } }"""
    r = await client.post("/graphql", json={"query": q, "variables": {"id": source}}, headers=viewer["headers"])
    assert r.json()["data"]["post"]["remixes"] == {
        "items": [
            {"id": stitch, "remix": {"type": "STITCH", "sourcePostId": source, "startMs": 2_000, "endMs": 7_000}}
        ],
        "nextCursor": None,
    }, r.text


async def test_graphql_create_post_makes_a_stitch(client, svc):
    owner, stitcher = await user(client), await user(client)
    source = await video_post(client, svc, owner)
    m = """mutation($in: CreatePostInput!) { createPost(input: $in) { id remix { type startMs endMs } } }"""
    var = {
        "in": {
            "videoId": await ready_video(svc, stitcher),
            "remix": {"type": "STITCH", "sourcePostId": source, "startMs": 0, "endMs": 6_000},
        }
    }
    r = await client.post("/graphql", json={"query": m, "variables": var}, headers=stitcher["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "remix_range_too_long", r.text
    var["in"]["remix"]["endMs"] = 4_000
    r = await client.post("/graphql", json={"query": m, "variables": var}, headers=stitcher["headers"])
    made = r.json()["data"]["createPost"]
    assert made["remix"] == {"type": "STITCH", "startMs": 0, "endMs": 4_000}, r.text
    assert [p["id"] for p in (await listed(client, owner, source))["items"]] == [made["id"]]


async def test_range_rules(client, svc):
    owner, u = await user(client), await user(client)
    source = await video_post(client, svc, owner, duration=12.0)
    assert code(await remix(client, svc, u, source, "stitch", 1_000, 6_001)) == (400, "remix_range_too_long")
    assert code(await remix(client, svc, u, source, "duet", 0, 12_001)) == (400, "remix_range_out_of_bounds")
    assert code(await remix(client, svc, u, source, "stitch", 10_000, 12_500)) == (400, "remix_range_out_of_bounds")
    assert code(await remix(client, svc, u, source, "duet", 5_000, 5_000)) == (422, "validation_error")
    no_video = await client.post(
        "/posts",
        headers=u["headers"],
        json={"remix": {"type": "duet", "source_post_id": source, "start_ms": 0, "end_ms": 1_000}},
    )
    assert code(no_video) == (400, "remix_needs_video")
    text_only = (await client.post("/posts", json={"caption": "words"}, headers=owner["headers"])).json()["id"]
    assert code(await remix(client, svc, u, text_only, "duet", 0, 1_000)) == (400, "remix_source_has_no_video")
    assert [p["remix"]["end_ms"] for p in (await listed(client, owner, source))["items"]] == []
    assert (await remix(client, svc, u, source, "duet", 0, 12_000)).status_code == 201


async def test_owner_turns_remixes_off_and_only_the_owner_may(client, svc):
    owner, other = await user(client), await user(client)
    source = await video_post(client, svc, owner)
    r = await client.patch(f"/posts/{source}/remix-settings", json={"allow_duets": False}, headers=other["headers"])
    assert code(r) == (403, "not_owner")
    r = await client.patch(f"/posts/{source}/remix-settings", json={"allow_duets": False}, headers=owner["headers"])
    assert r.status_code == 200 and r.json() == {"post_id": source, "allow_duets": False, "allow_stitches": True}
    assert code(await remix(client, svc, other, source, "duet", 0, 1_000)) == (403, "remix_disabled")
    assert (await remix(client, svc, other, source, "stitch", 0, 1_000)).status_code == 201
    m = "mutation($p: ID!) { setRemixSettings(postId: $p, allowStitches: false) { allowDuets allowStitches } }"
    r = await client.post("/graphql", json={"query": m, "variables": {"p": source}}, headers=owner["headers"])
    assert r.json()["data"]["setRemixSettings"] == {"allowDuets": False, "allowStitches": False}, r.text
    assert code(await remix(client, svc, other, source, "stitch", 0, 1_000)) == (403, "remix_disabled")
    r = await client.patch(f"/posts/{source}/remix-settings", json={"allow_duets": True}, headers=owner["headers"])
    assert r.json() == {"post_id": source, "allow_duets": True, "allow_stitches": False}
    assert (await remix(client, svc, other, source, "duet", 0, 1_000)).status_code == 201


async def test_invisible_source_is_404_and_blocked_is_403(client, svc):
    owner, stranger, blocked = [await user(client) for _ in range(3)]
    followers_only = await video_post(client, svc, owner, visibility="followers")
    assert code(await remix(client, svc, stranger, followers_only, "duet", 0, 1_000)) == (404, "post_not_found")
    assert (await client.get(f"/posts/{followers_only}/remixes", headers=stranger["headers"])).status_code == 404
    r = await client.patch(
        f"/posts/{followers_only}/remix-settings", json={"allow_duets": False}, headers=stranger["headers"]
    )
    assert code(r) == (404, "post_not_found")
    assert code(await remix(client, svc, stranger, str(new_id()), "duet", 0, 1_000)) == (404, "post_not_found")
    public = await video_post(client, svc, owner)
    await blocking.block(svc, blocker_id=owner["id"], target_id=blocked["id"])
    assert code(await remix(client, svc, blocked, public, "stitch", 0, 1_000)) == (403, "blocked")
    # and the other way round: you cannot remix someone you blocked
    await blocking.block(svc, blocker_id=stranger["id"], target_id=owner["id"])
    assert code(await remix(client, svc, stranger, public, "stitch", 0, 1_000)) == (403, "blocked")


def created(remixer: dict, post_id: str, source: str, source_author: dict, type: str) -> dict:
    """The post.created event create_post stages for a remix (validated against its schema)."""
    payload = {
        "post_id": post_id,
        "author_id": str(remixer["id"]),
        "visibility": "public",
        "caption": "",
        "video_id": str(new_id()),
        "circle_id": None,
        "kind": "post",
        "expires_at": None,
        "remix_type": type,
        "remix_source_post_id": source,
        "remix_source_author_id": str(source_author["id"]),
        "remix_start_ms": 0,
        "remix_end_ms": 1_000,
    }
    validate_payload("post.created", payload)
    return received(Event("post.created", payload, ts=datetime.now(UTC), id=UUID(post_id)))


async def test_the_source_owner_is_notified_once_per_event(client, svc):
    owner, a, b = [await user(client) for _ in range(3)]
    source = await video_post(client, svc, owner)
    duets = [(await remix(client, svc, u, source, "duet", 0, 1_000)).json()["id"] for u in (a, b)]
    stitch = (await remix(client, svc, a, source, "stitch", 0, 1_000)).json()["id"]
    batch = [
        created(a, duets[0], source, owner, "duet"),
        created(b, duets[1], source, owner, "duet"),
        created(a, stitch, source, owner, "stitch"),
        created(owner, str(new_id()), source, owner, "duet"),
    ]  # your own duet: no notice
    plain = received(
        Event(
            "post.created", {"post_id": str(new_id()), "author_id": str(a["id"]), "visibility": "public", "caption": ""}
        )
    )
    await notifications_agent(batch + [plain], svc)
    await notifications_agent(batch, svc)  # redelivered
    items = (await notifications.list_for(svc, owner["id"]))["items"]
    by_kind = {n["kind"]: n for n in items}
    assert sorted(by_kind) == ["duet", "stitch"] and len(items) == 2
    assert (by_kind["duet"]["actor_count"], by_kind["duet"]["event_count"]) == (2, 2)
    assert by_kind["duet"]["post_id"] == source and by_kind["duet"]["target_id"] == source
    assert by_kind["duet"]["text"] == f"{b['user']['username']} and {a['user']['username']} made a duet with your post"
    assert by_kind["stitch"]["text"] == f"{a['user']['username']} stitched your post"
    assert (await notifications.list_for(svc, a["id"]))["items"] == []
