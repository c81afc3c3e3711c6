"""Trending: the agent's logic fed events without a broker (window math as the Faust table does it,
scoring, hashtag lists, redelivery, publishing and paging), then the real Faust agent in a real
worker on the embedded broker: rankings over REST/GraphQL, and window state surviving a SIGKILL
(recovered from the changelog, not recomputed, not doubled).

The broker tests run their own API and workers on their own Redis database and consumer groups,
with TRENDING_REFRESH=1, so no other worker of the session publishes into what they read.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.windows import HoppingWindow

from infra.services import Services
from infra.settings import get_settings
from models.core.events import Event, Received, new_id, received, uuid7_at
from models.core.topics import REACTIONS, dlq_name
from models.discovery import trending
from streams.agents.trending import SOURCES, partition_of
from streams.compat import fetch_high_watermarks
from tests.support.broker import collect
from tests.support.factories import create_post, register
from tests.support.processes import Proc, start_api
from tests.support.waiting import equals, wait_for

CFG = trending.Config(window=3600, step=600, half_life=7200, expected=1.0, threshold=3.0, max_posts=100, ttl=60)


_RND = random.Random()


def at_time(ts: float) -> UUID:
    """A UUIDv7 whose timestamp is `ts` (a post created then), unique."""
    return uuid7_at(ts, _RND)


def ev(etype: str, payload: dict, at: float, eid: UUID | None = None) -> Received:
    """The event as the agent receives it (typed; models/core/events.py)."""
    return received(Event(etype, payload, id=eid or at_time(at), ts=datetime.fromtimestamp(at, UTC)))


def like(post, user, at, added=True, rtype="like"):
    return ev(
        "reaction.added" if added else "reaction.removed",
        {"post_id": str(post), "user_id": str(user), "type": rtype},
        at,
    )


class Windows:
    """The windowed table as the agent drives it: `at[key].apply(keep_newer, value)` applies the
    operation to the key in every hopping window of the event time (faust Table._apply_window_op)."""

    def __init__(self, cfg=CFG):
        self.window = HoppingWindow(cfg.window, cfg.step, cfg.window + cfg.step)
        self.data: dict = {}
        self.tags: dict = {}

    def feed(self, events):
        for e in events:
            for key, value in trending.edge_updates(e):
                for rng in self.window.ranges(trending.event_time(e)):
                    self.data[(key, rng)] = trending.keep_newer(self.data.get((key, rng)), value)
            if tagged := trending.post_tags(e):
                self.tags[tagged[0]] = tagged[1]

    def snapshot(self, now):
        obs = trending.observed(self.data.items(), self.window.earliest(now)[0])
        return {p: [o, self.tags.get(p, [])] for p, o in obs.items()}


# ------------------------------------------------------------------ logic, no broker


def test_synthetic_burst_ranks_first():
    now = time.time()
    a, b, c = (at_time(now - 1800) for _ in range(3))
    w = Windows()
    w.feed([like(b, uuid4(), now - 3000 + i) for i in range(5)])  # steady, earlier
    w.feed([like(a, uuid4(), now - 120 + i) for i in range(12)])  # the burst
    w.feed([like(c, uuid4(), now - 60)] * 2)  # below the threshold
    snap = w.snapshot(now)
    assert snap[str(a)][0] == 12 and snap[str(b)][0] == 5 and snap[str(c)][0] == 1
    ranked, _ = trending.rank(snap, CFG, now)
    assert [p for p, _ in ranked] == [str(a), str(b)]
    scores = dict(ranked)
    # (observed - expected)^2 / expected, same age: 121 vs 16
    assert scores[str(a)] / scores[str(b)] == pytest.approx(121 / 16)


def test_decay_halves_per_half_life_and_old_windows_drop_out():
    now = time.time()
    fresh, old = at_time(now - 60), at_time(now - 60 - 2 * CFG.half_life)
    w = Windows()
    for post in (fresh, old):
        w.feed([like(post, uuid4(), now - 30 + i) for i in range(6)])
    ranked = dict(trending.rank(w.snapshot(now), CFG, now)[0])
    assert ranked[str(old)] / ranked[str(fresh)] == pytest.approx(0.25, rel=1e-3)

    stale = at_time(now - 3 * 3600)
    w.feed([like(stale, uuid4(), now - 2 * 3600 + i) for i in range(50)])  # a burst 2 h ago
    assert str(stale) not in w.snapshot(now)
    assert w.snapshot(now - 2 * 3600 + 100)[str(stale)][0] == 50  # it was in its own window


def test_weights_of_each_kind_and_comment_deletion():
    now = time.time()
    post, user = at_time(now - 100), uuid4()
    comment_id, author = new_id(), str(uuid4())
    comment = {"comment_id": str(comment_id), "post_id": str(post), "author_id": author}
    w = Windows()
    w.feed(
        [
            like(post, user, now - 50),
            ev("comment.created", {**comment, "post_author_id": str(uuid4()), "body": "nice"}, now - 40),
            ev("view.counted", {"post_id": str(post), "user_id": str(user), "watched_ms": 12000}, now - 30),
            ev("share.created", {"post_id": str(post), "user_id": str(user), "channel": "link"}, now - 20),
        ]
    )
    assert w.snapshot(now)[str(post)][0] == 1 + 2 + 0.5 + 3
    w.feed([ev("comment.deleted", {**comment, "deleted_by": author}, now - 10)])
    assert w.snapshot(now)[str(post)][0] == 1 + 0.5 + 3


def test_a_user_farming_views_and_shares_weighs_once_per_window():
    """Events the API would not even send (it counts a share or view once an hour per user) still
    weigh once: the edge is the user's, not the event's."""
    now = time.time()
    post, farmer, fan = at_time(now - 600), uuid4(), uuid4()
    w = Windows()
    farm = [
        ev(kind, {"post_id": str(post), "user_id": str(farmer), **extra}, now - 300 + i)
        for i in range(50)
        for kind, extra in (("share.created", {"channel": "link"}), ("view.counted", {"watched_ms": 20000}))
    ]
    w.feed(farm + [ev("share.created", {"post_id": str(post), "user_id": str(fan), "channel": "dm"}, now - 10)])
    assert w.snapshot(now)[str(post)][0] == 3 + 0.5 + 3


def test_redelivered_and_reordered_events_never_double_count():
    now = time.time()
    post = at_time(now - 600)
    users = [uuid4() for _ in range(8)]
    events = [like(post, u, now - 200 + i) for i, u in enumerate(users)]
    events += [like(post, users[0], now - 100, added=False), like(post, users[0], now - 90)]  # unlike, like again
    events += [like(post, users[1], now - 80, added=False)]  # unlike
    events += [ev("view.counted", {"post_id": str(post), "user_id": str(users[2]), "watched_ms": 20000}, now - 70)]
    once = Windows()
    once.feed(events)
    expected = once.snapshot(now)[str(post)][0]
    assert expected == 8 - 1 + 0.5

    redelivered = Windows()
    redelivered.feed(events)
    redelivered.feed(events[3:])  # a crash replays a tail
    shuffled = events * 3
    random.Random(5).shuffle(shuffled)  # and anything out of order
    redelivered.feed(shuffled)
    assert redelivered.snapshot(now)[str(post)][0] == expected
    assert redelivered.data == once.data


def test_hashtags_are_parsed_and_listed_per_tag():
    # normalised as posts store them (models/core/text.py): ة -> ه, diacritics dropped
    assert trending.hashtags("Sunset in #Cairo #food #cairo, café#no #قهوة #قَهوه #x_1 ##y") == [
        "cairo",
        "food",
        "قهوه",
        "x_1",
    ]
    assert trending.hashtags("no tags") == [] and trending.hashtags("") == []
    now = time.time()
    food, coffee, both = (at_time(now - 300) for _ in range(3))
    w = Windows()
    for post, caption, n in ((food, "#food", 9), (coffee, "#قهوة time", 5), (both, "#food and #قهوة", 7)):
        w.feed(
            [
                ev(
                    "post.created",
                    {"post_id": str(post), "author_id": str(uuid4()), "visibility": "public", "caption": caption},
                    now - 290,
                )
            ]
        )
        w.feed([like(post, uuid4(), now - 100 + i) for i in range(n)])
    ranked, by_tag = trending.rank(w.snapshot(now), CFG, now)
    assert [p for p, _ in ranked] == [str(food), str(both), str(coffee)]
    assert [p for p, _ in by_tag["food"]] == [str(food), str(both)]
    assert [p for p, _ in by_tag[trending.normalize_tag("#قهوة")]] == [str(both), str(coffee)]
    assert trending.normalize_tag("#Food") == "food"
    with pytest.raises(trending.DomainError):
        trending.normalize_tag("two words")


def test_partition_of_matches_the_producers_partitioner():
    from aiokafka.partitioner import DefaultPartitioner

    for _ in range(50):
        key = str(uuid4())
        assert partition_of(key, 4) == DefaultPartitioner()(key.encode(), [0, 1, 2, 3], [0, 1, 2, 3])


# ------------------------------------------------------------------ publishing and paging, no broker


def redis_db(env: dict, db: int) -> str:
    base, _, _ = env["REDIS_URL"].rpartition("/")
    return f"{base}/{db}"


@pytest_asyncio.fixture
async def svc3(stack_env):
    settings = get_settings().model_copy(update={"redis_url": redis_db(stack_env, 3)})
    s = await Services.start(settings, relay=False)
    await s.redis.flushdb()
    yield s
    await s.stop()


async def test_publish_then_page_with_cursors_visibility_and_feedback(client, svc3):
    viewer, author = await register(client), await register(client)
    ids = [await create_post(client, author, caption=f"p{i} #Paging") for i in range(5)]
    r = await client.post(
        "/posts", json={"caption": "secret #paging", "visibility": "followers"}, headers=author["headers"]
    )
    hidden_by_rule = r.json()["id"]
    own = await create_post(client, viewer, caption="mine")
    now = time.time()
    snapshot = {p: [10.0 - i, ["paging"]] for i, p in enumerate(ids)}
    snapshot[hidden_by_rule] = [20.0, ["paging"]]
    snapshot[own] = [15.0, []]
    gen1 = await trending.publish(svc3.redis, CFG, {0: snapshot}, 4, now)

    viewer_id = UUID(viewer["user"]["id"])
    first = await trending.page(svc3, viewer_id, cursor=None, limit=3)
    assert [i["post"]["id"] for i in first["items"]] == [own, ids[0], ids[1]]  # the followers-only post skipped
    assert first["items"][1]["engagement"] == 10.0 and first["items"][1]["rank"] == 3
    # a new ranking is published in between: the cursor keeps paging the one it started on
    await trending.publish(svc3.redis, CFG, {0: {ids[4]: [99.0, []]}}, 4, now + 1)
    rest = await trending.page(svc3, viewer_id, cursor=first["next_cursor"], limit=10)
    assert [i["post"]["id"] for i in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    assert [i["post"]["id"] for i in (await trending.page(svc3, viewer_id, limit=10))["items"]] == [ids[4]]

    # per hashtag, hidden posts and recommendations (no own posts, no "not interested")
    r = await client.post("/interactions/feedback", json={"post_id": ids[1], "kind": "hide"}, headers=viewer["headers"])
    assert r.status_code == 201
    r = await client.post(
        "/interactions/feedback", json={"post_id": ids[2], "kind": "not_interested"}, headers=viewer["headers"]
    )
    assert r.status_code == 201
    old = trending._encode_cursor(gen1, 0)
    tagged = await trending.page(svc3, viewer_id, hashtag="#PAGING", cursor=old, limit=10)
    assert [i["post"]["id"] for i in tagged["items"]] == [ids[0], ids[2], ids[3], ids[4]]
    recs = await trending.page(svc3, viewer_id, cursor=old, limit=10, recommend=True)
    assert [i["post"]["id"] for i in recs["items"]] == [ids[0], ids[3], ids[4]]

    await svc3.redis.delete(f"trending:{gen1}:meta")  # the generation expired
    with pytest.raises(trending.CursorExpired):
        await trending.page(svc3, viewer_id, cursor=first["next_cursor"])
    with pytest.raises(trending.DomainError) as bad:
        await trending.page(svc3, viewer_id, cursor="not-a-cursor")
    assert bad.value.code == "invalid_cursor"


async def test_partition_snapshots_merge_and_replace(svc3):
    now = time.time()
    p0, p1 = str(at_time(now)), str(at_time(now))
    await trending.publish(svc3.redis, CFG, {0: {p0: [5.0, []]}}, 4, now)
    gen = await trending.publish(svc3.redis, CFG, {1: {p1: [7.0, []]}}, 4, now)  # another worker
    assert await svc3.redis.zrevrange(f"trending:{gen}:global", 0, -1) == [p1.encode(), p0.encode()]
    gen = await trending.publish(svc3.redis, CFG, {0: {}}, 4, now)  # p0's partition: nothing now
    assert await svc3.redis.zrevrange(f"trending:{gen}:global", 0, -1) == [p1.encode()]
    assert await svc3.redis.ttl(f"trending:{gen}:global") > 0


# ------------------------------------------------------------------ the real agent on the broker


class Stack:
    """An API and a worker of their own: Redis db `db`, consumer groups and changelogs `prefix`."""

    def __init__(self, stack_env, log_dir, db: int, **extra):
        self.env = {
            **stack_env,
            "REDIS_URL": redis_db(stack_env, db),
            "TRENDING_REFRESH": "1",
            "CONSUMER_GROUP_PREFIX": f"trend{uuid4().hex[:8]}",
            **extra,
        }
        self.log_dir = log_dir
        self.worker: Proc | None = None

    def start_worker(self) -> Proc:
        self.worker = Proc("worker", ["-m", "streams", "worker"], self.env, self.log_dir).start()
        return self.worker

    @property
    def group(self) -> str:
        return f"{self.env['CONSUMER_GROUP_PREFIX']}-worker"


async def published(redis_url: str, post_ids: list[str]) -> dict[str, float]:
    """Engagement of the posts in the current ranking generation."""
    r = aioredis.from_url(redis_url)
    try:
        gen = await r.get(trending.CURRENT)
        if gen is None:
            return {}
        values = await r.hmget(f"trending:{gen.decode()}:engagement", post_ids)
        return {p: float(v) for p, v in zip(post_ids, values) if v is not None}
    finally:
        await r.aclose()


async def committed_and_end(env: dict, group: str) -> list[tuple[int, int]]:
    """(committed offset, log end) of the group on every partition of the agent's source topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=env["KAFKA_BOOTSTRAP"], group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in SOURCES for p in range(int(env.get("KAFKA_PARTITIONS", 4)))]
        ends = await fetch_high_watermarks(env["KAFKA_BOOTSTRAP"], await consumer.end_offsets(tps))
        return [(await consumer.committed(tp) or 0, ends[tp]) for tp in tps]
    finally:
        await consumer.stop()


async def all_committed(env: dict, group: str) -> bool:
    return all(c >= end for c, end in await committed_and_end(env, group))


async def react_many(client, post: str, n: int) -> None:
    for _ in range(n):
        fan = await register(client)
        r = await client.post("/interactions/reactions", json={"post_id": post}, headers=fan["headers"])
        assert r.status_code == 202, r.text


async def view(client, post: str) -> None:
    fan = await register(client)
    r = await client.post("/interactions/views", json={"post_id": post, "watched_ms": 15000}, headers=fan["headers"])
    assert r.status_code == 202 and r.json()["counted"], r.text


@pytest.fixture(scope="module")
def own_stack(stack_env, log_dir):
    stack = Stack(stack_env, log_dir, db=5)
    api_proc, base = start_api(stack.env, log_dir)
    stack.base = base
    stack.start_worker()
    yield stack
    stack.worker.stop()
    api_proc.stop()


@pytest_asyncio.fixture
async def own_client(own_stack):
    import httpx

    async with httpx.AsyncClient(base_url=own_stack.base, timeout=15) as c:
        yield c


async def test_agent_ranks_posts_and_the_api_serves_them(own_client, own_stack):
    client = own_client
    author, viewer = await register(client), await register(client)
    top = await create_post(client, author, caption="big news #Launch")
    second = await create_post(client, author, caption="also #launch #food")
    quiet = await create_post(client, author, caption="#food but quiet")
    # a poison message first (its payload fails ReactionPayload): dead-lettered, the agent goes on
    poison = Event("reaction.added", {"post_id": top, "user_id": "nobody", "type": "like"})
    producer = AIOKafkaProducer(bootstrap_servers=own_stack.env["KAFKA_BOOTSTRAP"], acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(REACTIONS.name, poison.to_bytes(), key=top.encode())
    finally:
        await producer.stop()
    await react_many(client, top, 6)
    await react_many(client, second, 4)
    await view(client, second)
    await react_many(client, quiet, 1)
    expect = {top: 6.0, second: 4.5, quiet: None}

    async def ranked():
        got = await published(own_stack.env["REDIS_URL"], [top, second, quiet])
        return got if got.get(top) == 6.0 and got.get(second) == 4.5 else None

    got = await wait_for(ranked, timeout=90, interval=0.5, what=f"engagement {expect}")
    assert quiet not in got  # 1 < TRENDING_THRESHOLD
    letters = await collect(
        own_stack.env["KAFKA_BOOTSTRAP"],
        dlq_name(REACTIONS),
        lambda found: any(d["agent"] == "trending" and d["envelope"]["id"] == str(poison.id) for d in found),
    )
    # at least once: a rebalance on a loaded machine may redeliver the poison and letter it again
    letter = next(d for d in letters if d["agent"] == "trending" and d["envelope"]["id"] == str(poison.id))
    assert letter["attempts"] == 1 and letter["error"]["type"] == "ValidationError"
    assert letter["error"]["message"].startswith("payload.user_id: Input should be a valid UUID")

    r = await client.get("/feeds/trending", headers=viewer["headers"])
    assert r.status_code == 200, r.text
    mine = [i["post"]["id"] for i in r.json()["items"] if i["post"]["id"] in expect]
    assert mine == [top, second]
    r = await client.get("/feeds/trending", params={"hashtag": "food"}, headers=viewer["headers"])
    assert [i["post"]["id"] for i in r.json()["items"]] == [second]
    r = await client.get("/feeds/trending", params={"hashtag": "no such tag"}, headers=viewer["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_hashtag"
    r = await client.get("/recommendations/trending", headers=author["headers"])
    assert not {i["post"]["id"] for i in r.json()["items"]} & set(expect)  # the author's own posts
    r = await client.post("/interactions/feedback", json={"post_id": top, "kind": "hide"}, headers=viewer["headers"])
    assert r.status_code == 201
    r = await client.get("/feeds/trending", params={"hashtag": "launch"}, headers=viewer["headers"])
    assert [i["post"]["id"] for i in r.json()["items"]] == [second]

    q = '{ trending(hashtag: "launch") { items { post { id } engagement rank } nextCursor } }'
    data = (await client.post("/graphql", json={"query": q}, headers=author["headers"])).json()["data"]
    assert [(i["post"]["id"], i["engagement"]) for i in data["trending"]["items"]] == [(top, 6.0), (second, 4.5)]


async def test_window_state_is_recovered_from_the_changelog_after_sigkill(own_client, own_stack):
    """Source offsets committed before the kill: nothing is consumed again, so whatever the
    restarted worker knows about these windows came from the changelog (on Tansu: through the
    end-offset fix). A view after the restart lands behind the recovered likes on the same
    partition; seeing it proves the worker runs on the recovered state."""
    client = own_client
    author = await register(client)
    top = await create_post(client, author, caption="#recover me")
    second = await create_post(client, author, caption="#recover #solo")
    await react_many(client, top, 6)
    await react_many(client, second, 4)
    await wait_for(
        lambda: equals(published(own_stack.env["REDIS_URL"], [top, second]), {top: 6.0, second: 4.0}),
        timeout=90,
        interval=0.5,
        what="likes ranked before the kill",
    )
    await wait_for(
        lambda: all_committed(own_stack.env, own_stack.group),
        timeout=60,
        interval=0.5,
        what="the trending agent's offsets committed",
    )
    own_stack.worker.kill()
    own_stack.start_worker()
    await view(client, top)
    await view(client, second)

    async def after_restart():
        got = await published(own_stack.env["REDIS_URL"], [top, second])
        return got if got.get(top, 0) % 1 and got.get(second, 0) % 1 else None

    got = await wait_for(after_restart, timeout=120, interval=0.5, what="the views after the restart ranked")
    assert got == {top: 6.5, second: 4.5}  # not 0.5 (lost), not 12.5 / 8.5 (doubled)
    r = await client.get("/feeds/trending", params={"hashtag": "solo"}, headers=(await register(client))["headers"])
    assert [i["post"]["id"] for i in r.json()["items"]] == [second]  # the hashtag table recovered too


async def test_events_replayed_after_a_crash_do_not_double_count(client, stack_env, log_dir):
    """No offset is ever committed here, so after the SIGKILL the worker recovers its windows from
    the changelog AND consumes every event again on top of them."""
    stack = Stack(stack_env, log_dir, db=6, BROKER_COMMIT_INTERVAL="3600", BROKER_COMMIT_EVERY="1000000000")
    author = await register(client)
    post = await create_post(client, author, caption="replayed #again")
    await react_many(client, post, 5)
    stack.start_worker()
    try:
        await wait_for(
            lambda: equals(published(stack.env["REDIS_URL"], [post]), {post: 5.0}),
            timeout=120,
            interval=0.5,
            what="5 likes ranked",
        )
        assert all(c == 0 for c, _ in await committed_and_end(stack.env, stack.group))  # never committed
        stack.worker.kill()
        stack.start_worker()
        await view(client, post)  # behind the replayed likes on the post's partition
        got = await wait_for(
            lambda: _fraction(published(stack.env["REDIS_URL"], [post]), post),
            timeout=120,
            interval=0.5,
            what="the view after the restart ranked",
        )
        assert got == 5.5
    finally:
        stack.worker.stop()


async def _fraction(coro, post):
    v = (await coro).get(post, 0.0)
    return v if v % 1 else None
