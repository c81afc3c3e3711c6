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
from models.engagement import ReactionChange, latest_per_edge, make_store
from models.engagement.cql import CqlEngagementStore
from models.events import new_id

SCYLLA_HOSTS = os.environ.get("SCYLLA_HOSTS", "")


def scylla(test):
    """Needs a real ScyllaDB/Cassandra."""
    skip = pytest.mark.skipif(
        not SCYLLA_HOSTS,
        reason="needs a ScyllaDB/Cassandra server: set SCYLLA_HOSTS=host[:port],... "
               "(none can be installed on this machine)")
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


def react(post: UUID, user: UUID, active: bool, event_id: UUID | None = None,
          kind: str = "like") -> ReactionChange:
    return ReactionChange(post_id=post, user_id=user, type=kind, active=active,
                          event_id=event_id or new_id())


async def counters(store: CqlEngagementStore, post: UUID) -> dict[str, int]:
    return (await store.get_counters([post]))[post]


# ------------------------------------------------------------------ no server needed

def test_make_store_picks_cql_when_scylla_hosts_is_set():
    store = make_store(Settings(SCYLLA_HOSTS="127.0.0.1:1"), engine=None)
    assert isinstance(store, CqlEngagementStore)
    assert store.contact_points == [("127.0.0.1", 1)]
    assert store.session is None  # constructing does not connect


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
        results = await asyncio.gather(store.apply_reactions(batch), store.apply_reactions(batch),
                                       other.apply_reactions(batch))
    finally:
        await other.close()
    assert await counters(store, post) == {"like": 30, "love": 40}
    assert any(post in r for r in results)  # some call did the work (which one is a race)

    # newest wins whatever the arrival order: unlikes (newer ids) race the likes (older ids)
    post2 = uuid4()
    likes = [react(post2, u, True) for u in users]
    unlikes = [react(post2, u, False) for u in users]
    await asyncio.gather(store.apply_reactions(unlikes), store.apply_reactions(likes),
                         store.apply_reactions(unlikes), store.apply_reactions(likes))
    assert (await counters(store, post2)).get("like", 0) == 0
    assert await store.apply_reactions(likes) == {}


@scylla
async def test_reconcile_repairs_a_corrupted_counter(store):
    await store.reconcile()  # settle whatever earlier tests left (they should have left nothing)
    post = uuid4()
    users = [uuid4() for _ in range(3)]
    await store.apply_reactions([react(post, u, True) for u in users]
                                + [react(post, users[0], True, kind="love")])
    assert await counters(store, post) == {"like": 3, "love": 1}

    def corrupt():
        bump = "UPDATE post_counters SET count = count + %s WHERE post_id = %s AND kind = %s"
        store.session.execute(bump, (5, post, "like"))    # too high
        store.session.execute(bump, (-1, post, "love"))   # too low
        store.session.execute(bump, (2, post, "wow"))     # no edge at all
        store.session.execute(bump, (7, post, "views"))   # not a reaction: reconcile leaves it
    await asyncio.to_thread(corrupt)
    assert await counters(store, post) == {"like": 8, "love": 0, "wow": 2, "views": 7}

    assert await store.reconcile() == 3
    assert await counters(store, post) == {"like": 3, "love": 1, "wow": 0, "views": 7}
    assert await store.reconcile() == 0
    # the repaired counters keep counting exactly
    assert await store.apply_reactions([react(post, users[1], False)]) == {
        post: {"like": 2, "love": 1, "wow": 0, "views": 7}}
