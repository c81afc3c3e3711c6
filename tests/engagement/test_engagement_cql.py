"""The ScyllaDB/Cassandra engagement store against a real server.

No CQL server can be installed on the development machine, so every test that talks to one is
marked `scylla` and skipped unless SCYLLA_HOSTS points at one (e.g. `SCYLLA_HOSTS=127.0.0.1:9042`).
Each run works in a throwaway keyspace that is dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
from uuid import UUID, uuid4

import pytest
import pytest_asyncio

from infra.settings import Settings
from models.core.events import new_id
from models.engagement import FollowChange, FollowLink, ReactionChange, latest_per_edge, make_store
from models.engagement.cql import STATEMENTS, CqlEngagementStore

SCYLLA_HOSTS = os.environ.get("SCYLLA_HOSTS", "")


def scylla(test):
    """Needs a real ScyllaDB/Cassandra."""
    skip = pytest.mark.skipif(
        not SCYLLA_HOSTS,
        reason="needs a ScyllaDB/Cassandra server: set SCYLLA_HOSTS=host[:port],... "
        "(none can be installed on this machine)",
    )
    return pytest.mark.scylla(skip(test))


def _settings(keyspace: str) -> Settings:
    return Settings(SCYLLA_HOSTS=SCYLLA_HOSTS, SCYLLA_KEYSPACE=keyspace)


@pytest.fixture(scope="module")
def keyspace():
    return f"daira_test_{uuid4().hex[:8]}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def store(keyspace):
    s = CqlEngagementStore(_settings(keyspace), reconcile_grace=0.2)
    await s.start()
    try:
        yield s
    finally:
        session = s.session
        try:
            await asyncio.to_thread(session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}")
        finally:
            await s.close()


def react(post: UUID, user: UUID, active: bool, event_id: UUID | None = None, kind: str = "like") -> ReactionChange:
    return ReactionChange(post_id=post, user_id=user, type=kind, active=active, event_id=event_id or new_id())


async def counters(store: CqlEngagementStore, post: UUID) -> dict[str, int]:
    return (await store.get_counters([post]))[post]


# ------------------------------------------------------------------ no server needed


def test_make_store_picks_cql_when_scylla_hosts_is_set():
    store = make_store(Settings(SCYLLA_HOSTS="127.0.0.1:1"), engine=None)
    assert isinstance(store, CqlEngagementStore)
    assert store.contact_points == [("127.0.0.1", 1)]
    assert store.session is None  # constructing does not connect


def test_every_statement_has_its_attribute():
    """start() prepares each STATEMENTS entry into `_q_<name>`; the code reads those names."""
    declared = {n[3:] for n in CqlEngagementStore.__annotations__ if n.startswith("_q_")}
    assert declared == set(STATEMENTS)


# ------------------------------------------------------------------ against a server


@scylla
async def test_ping_and_empty_inputs(store):
    await store.ping()
    assert await store.apply_reactions([]) == {}
    post = uuid4()
    assert await store.get_counters([post]) == {post: {}}


@scylla
async def test_like_is_counted_once(store):
    post, user = uuid4(), uuid4()
    assert await store.apply_reactions([react(post, user, True)]) == {post: {"like": 1}}
    assert await counters(store, post) == {"like": 1}


@scylla
async def test_same_change_applied_twice_counts_once(store):
    post, user = uuid4(), uuid4()
    change = react(post, user, True)
    assert await store.apply_reactions([change]) == {post: {"like": 1}}
    assert await store.apply_reactions([change]) == {}  # redelivery: nothing changed
    assert await counters(store, post) == {"like": 1}


@scylla
async def test_like_unlike_like(store):
    post, user = uuid4(), uuid4()
    e1, e2, e3 = new_id(), new_id(), new_id()
    assert await store.apply_reactions([react(post, user, True, e1)]) == {post: {"like": 1}}
    assert await store.apply_reactions([react(post, user, False, e2)]) == {post: {"like": 0}}
    assert await store.apply_reactions([react(post, user, True, e3)]) == {post: {"like": 1}}
    assert await counters(store, post) == {"like": 1}


@scylla
async def test_stale_event_after_newer_one_is_ignored(store):
    post, user = uuid4(), uuid4()
    older, newer = new_id(), new_id()
    assert await store.apply_reactions([react(post, user, True, newer)]) == {post: {"like": 1}}
    assert await store.apply_reactions([react(post, user, False, older)]) == {}
    assert await counters(store, post) == {"like": 1}

    # and the other way round: a late "add" older than the removal stays removed
    post2 = uuid4()
    older = new_id()
    await store.apply_reactions([react(post2, user, True, new_id())])
    later_removal = new_id()
    assert await store.apply_reactions([react(post2, user, False, later_removal)]) == {post2: {"like": 0}}
    assert await store.apply_reactions([react(post2, user, True, older)]) == {}
    assert await counters(store, post2) == {"like": 0}


@scylla
async def test_removing_a_never_added_edge_moves_nothing(store):
    post, user = uuid4(), uuid4()
    before_removal = new_id()
    assert await store.apply_reactions([react(post, user, False)]) == {}
    assert await counters(store, post) == {}  # no counter written, certainly not -1
    # the removal is remembered: an older "add" that shows up afterwards is stale
    assert await store.apply_reactions([react(post, user, True, before_removal)]) == {}
    assert await counters(store, post) == {}
    assert await store.apply_reactions([react(post, user, True)]) == {post: {"like": 1}}


@scylla
async def test_concurrent_apply_of_the_same_batch_is_exact(store, keyspace):
    post = uuid4()
    users = [uuid4() for _ in range(40)]
    changes = [react(post, u, True, kind=kind) for u in users for kind in ("like", "love")]
    changes += [react(post, u, False, kind="like") for u in users[:10]]  # newer: 10 unlikes
    batch = latest_per_edge(changes)

    # two tasks on one store, plus a second store (another worker's session) on the same keyspace
    other = CqlEngagementStore(_settings(keyspace))
    await other.start()
    try:
        results = await asyncio.gather(
            store.apply_reactions(batch), store.apply_reactions(batch), other.apply_reactions(batch)
        )
    finally:
        await other.close()
    assert await counters(store, post) == {"like": 30, "love": 40}
    assert any(post in r for r in results)  # some call did the work (which one is a race)

    # newest wins whatever the arrival order: unlikes (newer ids) race the likes (older ids)
    post2 = uuid4()
    likes = [react(post2, u, True) for u in users]
    unlikes = [react(post2, u, False) for u in users]
    await asyncio.gather(
        store.apply_reactions(unlikes),
        store.apply_reactions(likes),
        store.apply_reactions(unlikes),
        store.apply_reactions(likes),
    )
    assert (await counters(store, post2)).get("like", 0) == 0
    assert await store.apply_reactions(likes) == {}


@scylla
async def test_reconcile_repairs_a_corrupted_counter(store):
    await store.reconcile()  # settle whatever earlier tests left (they should have left nothing)
    post = uuid4()
    users = [uuid4() for _ in range(3)]
    await store.apply_reactions([react(post, u, True) for u in users] + [react(post, users[0], True, kind="love")])
    assert await counters(store, post) == {"like": 3, "love": 1}

    def corrupt():
        bump = "UPDATE post_counters SET count = count + %s WHERE post_id = %s AND kind = %s"
        store.session.execute(bump, (5, post, "like"))  # too high
        store.session.execute(bump, (-1, post, "love"))  # too low
        store.session.execute(bump, (2, post, "wow"))  # no edge at all
        store.session.execute(bump, (7, post, "views"))  # not a reaction: reconcile leaves it

    await asyncio.to_thread(corrupt)
    assert await counters(store, post) == {"like": 8, "love": 0, "wow": 2, "views": 7}

    assert await store.reconcile() == 3
    assert await counters(store, post) == {"like": 3, "love": 1, "wow": 0, "views": 7}
    assert await store.reconcile() == 0
    # the repaired counters keep counting exactly
    assert await store.apply_reactions([react(post, users[1], False)]) == {
        post: {"like": 2, "love": 1, "wow": 0, "views": 7}
    }


# ------------------------------------------------------------------ follows, against a server


def fol(follower: UUID, followee: UUID, active: bool, event_id: UUID | None = None) -> FollowChange:
    return FollowChange(follower_id=follower, followee_id=followee, active=active, event_id=event_id or new_id())


async def follow_counts(store: CqlEngagementStore, user: UUID) -> dict[str, int]:
    return (await store.get_follow_counts([user]))[user]


@scylla
async def test_follow_counts_once_and_both_sides(store):
    a, b = uuid4(), uuid4()
    change = fol(a, b, True)
    assert await store.apply_follows([change]) == {
        a: {"followers": 0, "following": 1},
        b: {"followers": 1, "following": 0},
    }
    assert await store.apply_follows([change]) == {}  # redelivery
    assert await store.is_following(a, b) and not await store.is_following(b, a)
    older = new_id()
    assert await store.apply_follows([fol(a, b, False)]) == {
        a: {"followers": 0, "following": 0},
        b: {"followers": 0, "following": 0},
    }
    assert await store.apply_follows([fol(a, b, True, older)]) == {}  # stale follow
    assert await follow_counts(store, b) == {"followers": 0, "following": 0}
    c = uuid4()
    assert await store.apply_follows([fol(c, b, False)]) == {}  # never followed
    assert await follow_counts(store, b) == {"followers": 0, "following": 0}


@scylla
async def test_follow_lists_keyset_is_stable_under_inserts(store):
    star = uuid4()
    fans = [uuid4() for _ in range(5)]
    for f in fans:
        await store.apply_follows([fol(f, star, True)])
    page1 = await store.list_followers(star, after=None, limit=2)
    assert [link.user_id for link in page1] == fans[::-1][:2]
    late = [uuid4() for _ in range(3)]
    await store.apply_follows([fol(f, star, True) for f in late])
    await store.apply_follows([fol(fans[4], star, True)])  # repeated follow keeps its place
    rest, after = [], page1[-1]
    while page := await store.list_followers(star, after=after, limit=2):
        rest += page
        after = page[-1]
    assert [link.user_id for link in page1 + rest] == fans[::-1]
    assert [link.user_id for link in await store.list_following(fans[0], after=None, limit=5)] == [star]
    await store.apply_follows([fol(fans[1], star, False)])
    listed = [link.user_id for link in await store.list_followers(star, after=None, limit=100)]
    assert fans[1] not in listed and len(listed) == 7
    assert await store.list_following(fans[1], after=None, limit=5) == []
    assert await store.list_followers(star, after=FollowLink(uuid4(), UUID(int=0)), limit=5) == []


@scylla
async def test_concurrent_follow_batches_are_exact(store, keyspace):
    star = uuid4()
    fans = [uuid4() for _ in range(30)]
    batch = latest_per_edge([fol(f, star, True) for f in fans])
    other = CqlEngagementStore(_settings(keyspace))
    await other.start()
    try:
        await asyncio.gather(store.apply_follows(batch), store.apply_follows(batch), other.apply_follows(batch))
    finally:
        await other.close()
    assert await follow_counts(store, star) == {"followers": 30, "following": 0}
    assert len(await store.list_followers(star, after=None, limit=100)) == 30


@scylla
async def test_reconcile_follows_repairs_counters_and_lists(store):
    await store.reconcile_follows()
    a, b = uuid4(), uuid4()
    await store.apply_follows([fol(a, b, True)])
    stray = uuid4()

    def corrupt():
        store.session.execute(
            "UPDATE user_counters SET count = count + 4 WHERE user_id = %s AND kind = 'followers'", (b,)
        )
        store.session.execute("DELETE FROM following_by_user WHERE user_id = %s", (a,))
        store.session.execute(
            "INSERT INTO followers_by_user (user_id, since, follower_id) VALUES (%s, %s, %s)",
            (b, new_id().bytes, stray),
        )

    await asyncio.to_thread(corrupt)
    assert await store.reconcile_follows() == 3
    assert await follow_counts(store, b) == {"followers": 1, "following": 0}
    assert [link.user_id for link in await store.list_following(a, after=None, limit=5)] == [b]
    assert [link.user_id for link in await store.list_followers(b, after=None, limit=5)] == [a]
    assert await store.reconcile_follows() == 0
