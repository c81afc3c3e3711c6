"""Recommendations: the update rule, the interests agents (fed directly, local Qdrant in a temp
dir), the served list's filters, cold start, the per-author cap and pagination (domain functions
on the real PostgreSQL/Redis), the REST/GraphQL faces, and one end-to-end run through the real
worker: post -> embedding -> like -> the recommended list via the API."""

from __future__ import annotations

import time
from uuid import UUID, uuid4

import numpy as np
import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from infra import vectors
from infra.services import Services
from infra.settings import get_settings
from ml import embeddings
from models.accounts import profiles, users
from models.content import feedback, publishing
from models.core.errors import DomainError, Forbidden, Unavailable
from models.core.events import Event, Received, new_id, received
from models.core.topics import RECS_USERS
from models.discovery import recommendations as recs
from models.discovery import trending
from models.discovery.interests import interest_vector, pick_candidates, record_signals
from models.discovery.recommendations import WEIGHTS, Signal, read_candidates, store_candidates
from models.engagement import FollowChange
from models.media import videos
from models.social import blocking, circles, mutes
from streams.agents.embeddings import recs_embeddings
from streams.agents.interests import apply_signals
from tests.support.factories import create_post, register
from tests.support.waiting import wait_for

DAY_MS = 86_400_000


# In-process tests read Redis of their own: the suite's shared worker keeps publishing a global
# trending ranking of every other test's posts into the default database, which the
# recommender blends in.
REDIS_DB = 10


@pytest_asyncio.fixture
async def svc(stack_env, tmp_path):
    base, _, _ = stack_env["REDIS_URL"].rpartition("/")
    s = await Services.start(
        get_settings().model_copy(update={"qdrant_path": str(tmp_path / "qdrant"), "redis_url": f"{base}/{REDIS_DB}"}),
        relay=False,
    )
    await s.redis.flushdb()
    yield s
    await s.stop()
    vectors.close_all()


def envelope(etype: str, payload: dict, eid: UUID | None = None) -> Received:
    return received(Event(etype, payload, id=eid or new_id()))


async def new_user(svc) -> UUID:
    tag = uuid4().hex[:10]
    return (await users.register(svc, email=f"r{tag}@example.com", password="correct horse 1", username=f"r{tag}")).id


async def new_post(svc, author: UUID, caption: str = "a post", **kw) -> UUID:
    return (
        await publishing.create_post(
            svc, author_id=author, caption=caption, visibility=kw.pop("visibility", "public"), **kw
        )
    ).id


async def given_candidates(svc, user: UUID, ids: list[UUID]) -> None:
    """As the worker leaves them after a refresh (so this visit asks for none)."""
    await store_candidates(
        svc.redis, user, [(str(i), 1.0 - n / 1000) for n, i in enumerate(ids)], int(time.time() * 1000)
    )
    await svc.redis.set(f"recs:refresh:{user}", b"1", ex=60)


async def all_pages(svc, viewer: UUID, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        page = await recs.recommended(svc, viewer_id=viewer, user_id=viewer, cursor=cursor, limit=limit)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


# --- the update rule and candidate picking (pure) ---------------------------------------------


def sig(key: str, weight: float, ms: int, kind: str = "like") -> Signal:
    return Signal(key, kind, f"{ms:012x}70008000000000000000", weight)


def test_interest_vector_decays_and_pushes_away():
    a, b = np.eye(embeddings.DIM, dtype=np.float32)[0], np.eye(embeddings.DIM, dtype=np.float32)[1]
    vec = {"a": a, "b": b}.get
    now, half = 100 * DAY_MS, 14 * DAY_MS
    # equal weights, b 14 days older: b counts half
    u = interest_vector([sig("a", 1, now), sig("b", 1, now - half)], lambda s: vec(s.key), now, half)
    assert u[0] == pytest.approx(2 * u[1]) and np.linalg.norm(u) == pytest.approx(1)
    # a hide of b pushes away from it
    u = interest_vector([sig("a", 1, now), sig("b", WEIGHTS["hide"], now, "hide")], lambda s: vec(s.key), now, half)
    assert u[0] > 0 > u[1]
    # no positive evidence, retracted or unknown posts: no vector (cold start)
    assert interest_vector([sig("b", WEIGHTS["hide"], now, "hide")], lambda s: vec(s.key), now, half) is None
    assert interest_vector([sig("a", 0.0, now)], lambda s: vec(s.key), now, half) is None
    assert interest_vector([sig("zz", 1, now)], lambda s: vec(s.key), now, half) is None


class Hit:
    def __init__(self, id, score, **payload):
        self.id, self.score, self.payload = (
            id,
            score,
            {"ready": True, "nsfw": False, "visibility": "public", "author": "x", **payload},
        )


def test_pick_candidates_filters_the_search():
    hits = [
        Hit("own", 0.9, author="me"),
        Hit("seen", 0.8),
        Hit("nsfw", 0.7, nsfw=True),
        Hit("wait", 0.6, ready=False),
        Hit("circle", 0.5, visibility="circle"),
        Hit("ok1", 0.4),
        Hit("ok2", 0.3),
        Hit("ok3", 0.2),
    ]
    assert pick_candidates(hits, "me", {"seen"}, 2) == [("ok1", 0.4), ("ok2", 0.3)]
    # the popularity prior: among close posts, the one others engage with comes first
    ranked = pick_candidates(hits, "me", {"seen"}, 3, {"ok3": 20.0, "ok1": 1.0}, popularity=0.2)
    assert [pid for pid, _ in ranked] == ["ok3", "ok1", "ok2"]
    assert ranked[0][1] == pytest.approx(0.2 + 0.2 * np.log1p(20.0), abs=1e-5)


def test_blend_gives_each_source_its_share_and_dedupes():
    out = recs.blend({k: [f"{k[0]}{n}" for n in range(30)] for k in recs.BLEND}, recs.BLEND)
    first20 = [why for _, why in out[:20]]
    assert (first20.count("interests"), first20.count("following"), first20.count("trending")) == (12, 5, 3)
    out = recs.blend({"interests": ["i0", "i1"], "following": ["i1", "f0"], "trending": ["i0", "t0"]}, recs.BLEND)
    # a post offered by two sources appears once, credited to the one whose turn placed it
    assert out == [("i0", "interests"), ("i1", "following"), ("t0", "trending"), ("f0", "following")]


def test_paginate_caps_each_author_per_page_and_keeps_rank_order():
    entries = [(f"a{n}", "A", "x") for n in range(5)] + [(f"b{n}", "B", "x") for n in range(2)] + [("c0", "C", "x")]
    pages = recs.paginate(entries, 4, 2)
    assert [[e[0] for e in p] for p in pages] == [["a0", "a1", "b0", "b1"], ["a2", "a3", "c0"], ["a4"]]


def test_accept_language():
    assert recs.parse_accept_language("en;q=0.5, ar-SA, fr;q=0.8") == ("SA", "ar")
    assert recs.parse_accept_language("*") == (None, None)
    assert recs.parse_accept_language("") == (None, None)
    assert recs.parse_accept_language("pt_BR") == ("BR", "pt")


# --- the interests agents (real model, local Qdrant in a temp dir) ------------------------------


async def test_signals_are_idempotent_and_stale_events_ignored(svc):
    user, post = str(uuid4()), str(uuid4())
    like = envelope("reaction.added", {"post_id": post, "user_id": user, "type": "like"})
    unlike = envelope("reaction.removed", {"post_id": post, "user_id": user, "type": "like"})
    await record_signals(svc.redis, {user: [Signal(post, "like", unlike.id.hex, 0.0)]}, 200)
    await apply_signals([like, like], svc)  # older than the unlike, and duplicated
    hist = await svc.redis.hgetall(recs.history_key(user))
    assert {k.decode(): v.decode() for k, v in hist.items()} == {f"{post}|like": f"{unlike.id.hex}|0"}


async def test_history_is_capped_keeping_the_newest_and_the_topics(svc):
    user = str(uuid4())
    sigs = [Signal(str(uuid4()), "like", new_id().hex, 1.0) for _ in range(30)]
    topics = Signal(recs.TOPICS, "topics", new_id().hex, 1.0, "interested in: chess")
    await record_signals(svc.redis, {user: [topics]}, 20)
    await record_signals(svc.redis, {user: sigs}, 20)
    keys = {k.decode().split("|")[0] for k in await svc.redis.hkeys(recs.history_key(user))}
    assert len(keys) == 20 and recs.TOPICS in keys and {s.key for s in sigs[-19:]} <= keys


async def test_likes_give_candidates_by_meaning(svc, model):
    user, other = str(uuid4()), str(uuid4())
    captions = {
        "liked": "homemade pasta carbonara recipe #cooking",
        "pasta": "easy lasagna recipe for a family dinner #cooking",
        "cake": "chocolate cake baking tips #dessert",
        "football": "last minute goal wins the derby #football",
        "cars": "electric car review and range test #cars",
    }
    ids, own = {k: str(new_id()) for k in captions}, str(new_id())
    await recs_embeddings(
        [
            envelope(
                "post.created",
                {"post_id": ids[k], "author_id": other, "visibility": "public", "caption": c},
                UUID(ids[k]),
            )
            for k, c in captions.items()
        ]
        + [
            envelope(
                "post.created",
                {"post_id": own, "author_id": user, "visibility": "public", "caption": "my own pasta"},
                UUID(own),
            )
        ],
        svc,
    )
    await apply_signals([envelope("reaction.added", {"post_id": ids["liked"], "user_id": user, "type": "like"})], svc)
    got = [pid for pid, _ in (await read_candidates(svc.redis, user))["items"]]
    assert ids["liked"] not in got and own not in got  # already engaged with; their own
    assert got[0] == ids["pasta"] and got.index(ids["cake"]) < got.index(ids["cars"])
    # the user's vector is stored under the `users` alias
    vecs = vectors.shared(svc.settings)
    assert await vecs.count(vectors.USERS) == 1
    # unliking the only liked post leaves no vector: the list goes (cold start)
    await apply_signals([envelope("reaction.removed", {"post_id": ids["liked"], "user_id": user, "type": "like"})], svc)
    assert await read_candidates(svc.redis, user) is None
    assert await vecs.count(vectors.USERS) == 0
    # onboarding interests alone give a list
    await apply_signals([envelope("recs.interests_set", {"user_id": user, "topics": ["football", "sports"]})], svc)
    got = [pid for pid, _ in (await read_candidates(svc.redis, user))["items"]]
    assert got[0] == ids["football"]


async def test_a_like_before_the_post_is_indexed_is_applied_once_it_is(svc, model):
    user, post = str(uuid4()), new_id()
    await apply_signals([envelope("reaction.added", {"post_id": str(post), "user_id": user, "type": "love"})], svc)
    assert await read_candidates(svc.redis, user) is None
    other = new_id()
    await recs_embeddings(
        [
            envelope(
                "post.created", {"post_id": str(p), "author_id": str(uuid4()), "visibility": "public", "caption": c}, p
            )
            for p, c in ((post, "sunset over the red sea #travel"), (other, "hiking trip to the mountains #travel"))
        ],
        svc,
    )
    got = await read_candidates(svc.redis, user)
    assert got is not None and [pid for pid, _ in got["items"]] == [str(other)]


async def test_refresh_skips_served_posts(svc, model):
    user, liked, served, fresh = str(uuid4()), new_id(), new_id(), new_id()
    await recs_embeddings(
        [
            envelope(
                "post.created",
                {"post_id": str(p), "author_id": str(uuid4()), "visibility": "public", "caption": "jazz piano concert"},
                p,
            )
            for p in (liked, served, fresh)
        ],
        svc,
    )
    await svc.redis.zadd(recs.served_key(user), {str(served): time.time()})
    await apply_signals([envelope("reaction.added", {"post_id": str(liked), "user_id": user, "type": "like"})], svc)
    assert [pid for pid, _ in (await read_candidates(svc.redis, user))["items"]] == [str(fresh)]


# --- the served list: filters, cap, pagination, cold start --------------------------------------


async def test_filters(svc):
    viewer = await new_user(svc)
    a, blocked, blocker, muted, circle_owner = [await new_user(svc) for _ in range(5)]
    good = [await new_post(svc, a, f"good {n}") for n in range(2)]
    hidden = await new_post(svc, a, "hidden")
    dull = await new_post(svc, a, "not interesting")
    reported = await new_post(svc, a, "reported")
    own = await new_post(svc, viewer, "mine")
    await blocking.block(svc, blocker_id=viewer, target_id=blocked)
    await blocking.block(svc, blocker_id=blocker, target_id=viewer)
    await mutes.mute(svc, muter_id=viewer, target_id=muted)
    circle = await circles.create_circle(svc, viewer_id=circle_owner, owner_id=circle_owner, name="close")
    private = await new_post(svc, circle_owner, "circle only", visibility="circle", circle_id=UUID(circle["id"]))
    video = videos.Video(owner_id=a, status="processing", size=1)
    async with svc.sessions() as s, s.begin():
        s.add(video)
    processing = await new_post(svc, a, "my clip", video_id=video.id)
    await feedback.give(svc, user_id=viewer, post_id=hidden, kind="hide")
    await feedback.give(svc, user_id=viewer, post_id=dull, kind="not_interested")
    await record_signals(
        svc.redis, {str(viewer): [Signal(str(reported), "report", new_id().hex, WEIGHTS["report"])]}, 200
    )
    await given_candidates(
        svc,
        viewer,
        [
            hidden,
            dull,
            reported,
            own,
            await new_post(svc, blocked, "x"),
            await new_post(svc, blocker, "y"),
            await new_post(svc, muted, "z"),
            private,
            processing,
            *good,
        ],
    )
    page = await recs.recommended(svc, viewer_id=viewer, user_id=viewer)
    assert [i["id"] for i in page["items"]] == [str(g) for g in good]
    assert {i["reason"] for i in page["items"]} == {"interests"} and page["cold_start"] is False
    # once the video is ready, its post passes
    async with svc.sessions() as s, s.begin():
        (await s.get(videos.Video, video.id)).status = "ready"
    await svc.redis.delete(recs.served_key(viewer))
    page = await recs.recommended(svc, viewer_id=viewer, user_id=viewer)
    assert str(processing) in [i["id"] for i in page["items"]]


async def test_author_cap_pagination_and_seen(svc):
    viewer = await new_user(svc)
    a, b, c = [await new_user(svc) for _ in range(3)]
    ranked = (
        [await new_post(svc, a, f"a{n}") for n in range(6)]
        + [await new_post(svc, b, f"b{n}") for n in range(3)]
        + [await new_post(svc, c, "c0")]
    )
    await given_candidates(svc, viewer, ranked)
    pages = await all_pages(svc, viewer, limit=4)
    for page in pages:
        assert len(page) <= 4
        per_author = {}
        for item in page:
            per_author[item["author_id"]] = per_author.get(item["author_id"], 0) + 1
        assert max(per_author.values()) <= svc.settings.recs_max_per_author
    served = [i["id"] for p in pages for i in p]
    assert sorted(served) == sorted(map(str, ranked))  # every one once, nothing twice
    assert served[:2] == [str(ranked[0]), str(ranked[1])]  # the ranking leads
    # served posts are not recommended again
    again = await recs.recommended(svc, viewer_id=viewer, user_id=viewer)
    assert again["items"] == [] and again["next_cursor"] is None and again["cold_start"] is True


async def test_cursors(svc):
    viewer, other = await new_user(svc), await new_user(svc)
    author = await new_user(svc)
    await given_candidates(svc, viewer, [await new_post(svc, author, f"p{n}") for n in range(3)])
    first = await recs.recommended(svc, viewer_id=viewer, user_id=viewer, limit=1)
    cursor = first["next_cursor"]
    with pytest.raises(DomainError) as err:
        await recs.recommended(svc, viewer_id=other, user_id=other, cursor=cursor)
    assert err.value.code == "invalid_cursor"
    with pytest.raises(DomainError) as err:
        await recs.recommended(svc, viewer_id=viewer, user_id=viewer, cursor="not-a-cursor")
    assert err.value.code == "invalid_cursor"
    with pytest.raises(Forbidden):
        await recs.recommended(svc, viewer_id=viewer, user_id=other)
    await svc.redis.delete(*[k async for k in svc.redis.scan_iter("recs:snap:*")])
    with pytest.raises(recs.CursorExpired) as err:
        await recs.recommended(svc, viewer_id=viewer, user_id=viewer, cursor=cursor)
    assert err.value.status == 410


async def test_cold_start_following_then_trending_by_region_and_language(svc):
    viewer, followed = await new_user(svc), await new_user(svc)
    sa, eg = await new_user(svc), await new_user(svc)
    await profiles.update_profile(svc, actor_id=sa, user_id=sa, changes={"region": "SA"})
    await profiles.update_profile(svc, actor_id=eg, user_id=eg, changes={"region": "EG"})
    en_eg = await new_post(svc, eg, "the best koshary in town")
    ar_eg = await new_post(svc, eg, "أفضل كشري في القاهرة")
    en_sa = await new_post(svc, sa, "desert camping this weekend")
    ar_sa = await new_post(svc, sa, "رحلة تخييم في الصحراء")
    await svc.store.apply_follows([FollowChange(viewer, followed, True, new_id())])
    recent = await new_post(svc, followed, "news from someone I follow")
    cfg = trending.Config.from_settings(svc.settings)
    snapshot = {str(p): [50.0 - n, []] for n, p in enumerate([en_eg, ar_eg, en_sa, ar_sa])}

    async def cold_page(accept_language: str) -> list[tuple[str, str]] | None:
        # The worker's trending agent (if one runs) may publish meanwhile: publish and read again.
        await trending.publish(svc.redis, cfg, {0: snapshot}, 1, time.time())
        await svc.redis.delete(recs.served_key(viewer))
        page = await recs.recommended(svc, viewer_id=viewer, user_id=viewer, accept_language=accept_language)
        got = [(i["id"], i["reason"]) for i in page["items"]]
        trending_ids = [i for i, why in got if why == "trending"]
        return got if page["cold_start"] and len(trending_ids) == 4 else None

    got = await wait_for(lambda: cold_page("ar-SA,en;q=0.5"), timeout=10, what="a cold-start page")
    assert got[0] == (str(recent), "following")
    assert [i for i, why in got if why == "trending"] == [str(ar_sa), str(ar_eg), str(en_sa), str(en_eg)]
    # the profile's language and region win over the header
    await profiles.update_profile(svc, actor_id=viewer, user_id=viewer, changes={"language": "en", "region": "EG"})
    got = await wait_for(lambda: cold_page("ar-SA"), timeout=10, what="a cold-start page")
    assert [i for i, why in got if why == "trending"] == [str(en_eg), str(en_sa), str(ar_eg), str(ar_sa)]


async def test_interests_are_stored_and_announced(svc):
    user = await new_user(svc)
    out = await recs.set_interests(svc, viewer_id=user, user_id=user, topics=[" Cooking ", "cooking", "football"])
    assert out["topics"] == ["Cooking", "football"]
    assert (await recs.get_interests(svc, viewer_id=user, user_id=user))["topics"] == ["Cooking", "football"]
    with pytest.raises(Forbidden):
        await recs.set_interests(svc, viewer_id=uuid4(), user_id=user, topics=["x"])
    # after commit, through the outbox (this process's relay or an API's), on recs.users
    consumer = AIOKafkaConsumer(
        RECS_USERS.name, bootstrap_servers=svc.settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    seen = []

    async def announced() -> bool:
        try:
            await svc.relay.relay_once()
        except Unavailable:
            pass
        for records in (await consumer.getmany(timeout_ms=300)).values():
            seen.extend(orjson.loads(r.value) for r in records)
        return any(
            e["type"] == "recs.interests_set"
            and e["payload"] == {"user_id": str(user), "topics": ["Cooking", "football"]}
            for e in seen
        )

    try:
        await wait_for(announced, timeout=20, what="recs.interests_set on recs.users")
    finally:
        await consumer.stop()


# --- the API faces ------------------------------------------------------------------------------


async def test_rest_and_graphql_faces(client):
    me, other = await register(client), await register(client)
    mine = f"/recommendations/users/{me['user']['id']}"
    r = await client.get(f"/recommendations/users/{other['user']['id']}/recommended", headers=me["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    r = await client.get(f"{mine}/recommended?cursor=zzz", headers=me["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await client.put(f"{mine}/interests", json={"topics": ["x"] * 21}, headers=me["headers"])
    assert r.status_code == 422
    r = await client.put(f"{mine}/interests", json={"topics": ["chess", ""]}, headers=me["headers"])
    assert r.status_code == 422
    r = await client.put(f"{mine}/interests", json={"topics": ["chess", "Chess", "tea"]}, headers=me["headers"])
    assert r.status_code == 200 and r.json()["topics"] == ["chess", "tea"]
    r = await client.get(f"{mine}/recommended", headers={**me["headers"], "Accept-Language": "ar-EG"})
    assert r.status_code == 200 and set(r.json()) == {"items", "next_cursor", "cold_start"}
    q = {
        "query": "query($u: ID!) { recommended(userId: $u, limit: 5) { items { post { id } reason } nextCursor "
        "coldStart } recommendationInterests(userId: $u) { topics } }",
        "variables": {"u": me["user"]["id"]},
    }
    r = await client.post("/graphql", json=q, headers=me["headers"])
    data = r.json()["data"]
    assert data["recommendationInterests"]["topics"] == ["chess", "tea"] and "coldStart" in data["recommended"]
    q = {
        "query": f'mutation {{ setRecommendationInterests(userId: "{other["user"]["id"]}", topics: ["go"]) '
        "{ topics } }"
    }
    r = await client.post("/graphql", json=q, headers=me["headers"])
    assert r.json()["errors"][0]["extensions"]["code"] == "not_owner"


async def test_end_to_end_post_embedding_like_recommended(client, worker):
    me, cook, fan = await register(client), await register(client), await register(client)
    liked = await create_post(client, cook, "homemade pasta carbonara with guanciale #cooking")
    similar = await create_post(client, fan, "easy lasagna recipe for a family dinner #cooking")
    far = await create_post(client, fan, "electric car review and range test #cars")
    r = await client.post("/interactions/reactions", json={"post_id": liked}, headers=me["headers"])
    assert r.status_code == 202

    async def listed():
        r = await client.get(f"/recommendations/users/{me['user']['id']}/recommended", headers=me["headers"])
        items = [(i["id"], i["reason"]) for i in r.json()["items"]]
        return items if (similar, "interests") in items else None

    items = await wait_for(listed, timeout=90, interval=0.5, what="the similar post recommended")
    ids = [i for i, _ in items]
    assert liked not in ids
    assert far not in ids or ids.index(similar) < ids.index(far)
