"""ScyllaDB/Cassandra engagement store (picked by `make_store` when SCYLLA_HOSTS is set).

Same semantics as `models.engagement.pg` (see the correctness rule in `base`):

* an edge takes a change only if the change's event id is newer than the edge's `last_event_id`,
  compared as PostgreSQL compares uuids (byte order: `a.bytes > b.bytes`, never CQL timeuuid
  order: UUIDv7 ids are not timeuuids);
* a counter moves only when an edge really flips (inactive -> active: +1, active -> inactive: -1);
  removing a never-added edge stores an inactive edge (so an older "add" arriving later is
  ignored) and moves nothing;
* `apply_reactions` returns the full counters of each post whose counters changed (net, per
  (post, kind), as the PostgreSQL statement sums its deltas).

How an edge write is made safe without transactions: every edge write is a lightweight
transaction (Paxos compare-and-set). A missing edge is created with `INSERT ... IF NOT EXISTS`; an
existing one is moved with `UPDATE ... IF last_event_id = <read> AND active = <read>`. Whoever's CAS
applies owns the transition and is the only writer that moves the counter for it; the loser gets
the current row back, re-decides (newer? flip?) and retries. So two workers applying the same batch
concurrently, redeliveries and stale events all leave the counters exact. Each edge write also
stores a random `write_id`: if a CAS times out (outcome unknown: Paxos contention, a lost
connection), a SERIAL read tells whether our write is the one that landed.

THE ONE GAP vs PostgreSQL. In PostgreSQL the edge upsert and the counter increment commit in one
transaction. Here the edge CAS and the `post_counters` increment are two separate writes (CQL
counters cannot take part in an LWT or a logged batch with regular tables), and a counter increment
is not idempotent, so it is never retried blindly. If the process dies (or the counter write fails
or times out) after the CAS applied and before the increment landed, the edge is in its new state
but the counter is off by one -- and a redelivery of the event cannot fix it, because the edge now
says the event was already taken. That is why `reconcile()` exists: it recomputes the truth from
`reaction_edges` and corrects each drifted counter with a relative counter update. To keep the
window small, the per-edge work runs shielded from task cancellation and `close()` waits for the
in-flight work before shutting the cluster down, so a graceful shutdown or a Kafka rebalance does
not open it.

Differences from the PostgreSQL `reconcile`, which takes a table lock so no writer slips between
its read and its write: CQL has no such lock, so this one (1) scans everything to find suspect
posts, then (2) for each suspect reads the post's edges and counters twice, `reconcile_grace`
seconds apart, and corrects only if nothing changed in between (an increment still in flight right
after its CAS looks exactly like a lost one for a moment). A writer stalled between CAS and increment
for longer than the grace can still make the correction wrong by one; the next run repairs that.
A (post, kind) whose edges are all inactive and that has no counter row is consistent here (a CQL
counter that was never written *is* zero); PostgreSQL would materialise a 0 row for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

from cassandra import (
    ConfigurationException,
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    WriteFailure,
    WriteTimeout,
)
from cassandra import Unavailable as CqlUnavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, ResultSet
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy, TokenAwarePolicy
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError, SyntaxException
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement, Statement, dict_factory

from models.engagement.base import (
    FOLLOW_COUNTERS,
    REACTION_TYPES,
    FollowChange,
    FollowLink,
    FollowLists,
    ReactionChange,
    latest_per_edge,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 9042

# Tables, created IF NOT EXISTS by start() inside the configured keyspace (the keyspace itself is
# created separately: its replication factor is a constructor argument).
SCHEMA: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS reaction_edges (
        post_id uuid,
        user_id uuid,
        type text,
        active boolean,
        last_event_id uuid,
        updated_at timestamp,
        write_id uuid,
        PRIMARY KEY ((post_id), user_id, type)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS post_counters (
        post_id uuid,
        kind text,
        count counter,
        PRIMARY KEY ((post_id), kind)
    )
    """,
    # Follows. The edge (partitioned by follower) is the truth and takes the CAS; the two lists are
    # derived from it, newest first: `since` is the event id that made the edge active, as a blob
    # so it sorts by its bytes (as PostgreSQL sorts uuids; CQL's uuid order is not byte order).
    """
    CREATE TABLE IF NOT EXISTS follow_edges (
        follower_id uuid,
        followee_id uuid,
        active boolean,
        last_event_id uuid,
        since uuid,
        updated_at timestamp,
        write_id uuid,
        PRIMARY KEY ((follower_id), followee_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS followers_by_user (
        user_id uuid,
        since blob,
        follower_id uuid,
        PRIMARY KEY ((user_id), since, follower_id)
    ) WITH CLUSTERING ORDER BY (since DESC, follower_id DESC)
    """,
    """
    CREATE TABLE IF NOT EXISTS following_by_user (
        user_id uuid,
        since blob,
        followee_id uuid,
        PRIMARY KEY ((user_id), since, followee_id)
    ) WITH CLUSTERING ORDER BY (since DESC, followee_id DESC)
    """,
    """
    CREATE TABLE IF NOT EXISTS user_counters (
        user_id uuid,
        kind text,
        count counter,
        PRIMARY KEY ((user_id), kind)
    )
    """,
]

# Scylla with tablets enabled supports neither counters nor (before 2025.x) LWT: ask for vnodes.
# Apache Cassandra and older Scylla reject the option, and start() then falls back to the plain form.
_KEYSPACE_DDL = (
    "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"
)
_KEYSPACE_TABLETS_OFF = " AND tablets = {'enabled': false}"

# Prepared once by start(). Names are the attributes they are stored under (prefixed by `_q_`).
STATEMENTS: dict[str, str] = {
    "read_edge": "SELECT active, last_event_id, write_id FROM reaction_edges "
    "WHERE post_id = ? AND user_id = ? AND type = ?",
    "insert_edge": "INSERT INTO reaction_edges "
    "(post_id, user_id, type, active, last_event_id, updated_at, write_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    "update_edge": "UPDATE reaction_edges SET active = ?, last_event_id = ?, updated_at = ?, write_id = ? "
    "WHERE post_id = ? AND user_id = ? AND type = ? "
    "IF last_event_id = ? AND active = ?",
    "bump": "UPDATE post_counters SET count = count + ? WHERE post_id = ? AND kind = ?",
    "post_counters": "SELECT kind, count FROM post_counters WHERE post_id = ?",
    "user_edges": "SELECT type, active FROM reaction_edges WHERE post_id = ? AND user_id = ?",
    "post_edges": "SELECT user_id, type, active, last_event_id FROM reaction_edges WHERE post_id = ?",
    "scan_edges": "SELECT post_id, type, active FROM reaction_edges",
    # a user's reactions (export, erasure): rare, so a filtered scan rather than a second table
    "edges_of_user": "SELECT post_id, type, active FROM reaction_edges WHERE user_id = ? ALLOW FILTERING",
    "scan_counters": "SELECT post_id, kind, count FROM post_counters",
    "read_follow": "SELECT active, last_event_id, since, write_id FROM follow_edges "
    "WHERE follower_id = ? AND followee_id = ?",
    "insert_follow": "INSERT INTO follow_edges "
    "(follower_id, followee_id, active, last_event_id, since, updated_at, write_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    "update_follow": "UPDATE follow_edges SET active = ?, last_event_id = ?, since = ?, updated_at = ?, "
    "write_id = ? WHERE follower_id = ? AND followee_id = ? "
    "IF last_event_id = ? AND active = ?",
    "add_follower": "INSERT INTO followers_by_user (user_id, since, follower_id) VALUES (?, ?, ?)",
    "del_follower": "DELETE FROM followers_by_user WHERE user_id = ? AND since = ? AND follower_id = ?",
    "add_following": "INSERT INTO following_by_user (user_id, since, followee_id) VALUES (?, ?, ?)",
    "del_following": "DELETE FROM following_by_user WHERE user_id = ? AND since = ? AND followee_id = ?",
    "bump_user": "UPDATE user_counters SET count = count + ? WHERE user_id = ? AND kind = ?",
    "user_counters": "SELECT kind, count FROM user_counters WHERE user_id = ?",
    "followers_top": "SELECT follower_id, since FROM followers_by_user WHERE user_id = ? LIMIT ?",
    "followers_after": "SELECT follower_id, since FROM followers_by_user "
    "WHERE user_id = ? AND (since, follower_id) < (?, ?) LIMIT ?",
    "following_top": "SELECT followee_id, since FROM following_by_user WHERE user_id = ? LIMIT ?",
    "following_after": "SELECT followee_id, since FROM following_by_user "
    "WHERE user_id = ? AND (since, followee_id) < (?, ?) LIMIT ?",
    "scan_follows": "SELECT follower_id, followee_id, active, since FROM follow_edges",
    "scan_followers": "SELECT user_id, since, follower_id FROM followers_by_user",
    "scan_following": "SELECT user_id, since, followee_id FROM following_by_user",
    "scan_user_counters": "SELECT user_id, kind, count FROM user_counters",
}
# Reads may be retried/speculated by the driver; the writes (LWT, counters) never blindly. The
# list rows' plain INSERT/DELETE are idempotent too (a list row is a pure function of its edge).
_IDEMPOTENT = {
    "read_edge",
    "user_edges",
    "post_counters",
    "post_edges",
    "scan_edges",
    "edges_of_user",
    "scan_counters",
    "read_follow",
    "add_follower",
    "del_follower",
    "add_following",
    "del_following",
    "user_counters",
    "followers_top",
    "followers_after",
    "following_top",
    "following_after",
    "scan_follows",
    "scan_followers",
    "scan_following",
    "scan_user_counters",
}

# The cluster (or enough of it) is unreachable, overloaded or too slow: an outage, not a bad event.
# Stream agents retry a batch that fails with one of these for as long as it lasts and never
# dead-letter it (streams/batch.py TRANSIENT), as they do for PostgreSQL and Redis outages.
OUTAGES: tuple[type[BaseException], ...] = (
    NoHostAvailable,  # no node answered (all down, or none reachable)
    ConnectionException,  # a connection refused, reset or shut down
    OperationTimedOut,  # the client's own timeout: no answer from the coordinator
    CqlUnavailable,  # the coordinator knows too few replicas are alive for the consistency level
    ReadTimeout,  # replicas did not answer the coordinator in time
    WriteTimeout,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)

# A CAS that failed with one of these may or may not have applied.
_UNKNOWN_OUTCOME = (WriteTimeout, WriteFailure, OperationTimedOut, ConnectionException, ServerError)

_UNKNOWN = object()  # "a failed CAS did not say what the row is now"
_STALE = object()  # "the edge already holds this event or a newer one": nothing to write

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


class CasContention(RuntimeError):
    """An edge kept losing its compare-and-set; the batch should be retried."""


def _follow_state(edge: dict | None) -> tuple[bool, UUID | None]:
    """(active, since) of a follow edge's stored state; (False, None) for no row."""
    return (bool(edge["active"]), edge["since"]) if edge is not None else (False, None)


def _newer(a: UUID, b: UUID) -> bool:
    """PostgreSQL uuid order (memcmp of the 16 bytes)."""
    return a.bytes > b.bytes


def parse_hosts(spec: str, default_port: int = DEFAULT_PORT) -> list[tuple[str, int]]:
    """'host1:9042,host2,[::1]:9043' -> [(host1, 9042), (host2, 9042), (::1, 9043)]."""
    out: list[tuple[str, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.startswith("["):  # [ipv6]:port
            host, _, rest = part[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:] else default_port
        elif part.count(":") == 1:
            host, port_s = part.split(":")
            port = int(port_s) if port_s else default_port
        else:  # hostname, ipv4, or a bare ipv6 address
            host, port = part, default_port
        out.append((host, port))
    if not out:
        raise ValueError(f"SCYLLA_HOSTS has no host: {spec!r}")
    return out


class _NoBlindWriteRetry(RetryPolicy):
    """The default policy re-sends any statement to the next host after a connection or server
    error; for a counter increment or a CAS that may double-apply. Only idempotent ones here."""

    def on_request_error(self, query, consistency, error, retry_num):
        if query is not None and query.is_idempotent:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None


class CqlEngagementStore(FollowLists):
    # Prepared by start(), one per STATEMENTS entry.
    _q_read_edge: PreparedStatement
    _q_insert_edge: PreparedStatement
    _q_update_edge: PreparedStatement
    _q_bump: PreparedStatement
    _q_post_counters: PreparedStatement
    _q_user_edges: PreparedStatement
    _q_post_edges: PreparedStatement
    _q_scan_edges: PreparedStatement
    _q_edges_of_user: PreparedStatement
    _q_scan_counters: PreparedStatement
    _q_read_follow: PreparedStatement
    _q_insert_follow: PreparedStatement
    _q_update_follow: PreparedStatement
    _q_add_follower: PreparedStatement
    _q_del_follower: PreparedStatement
    _q_add_following: PreparedStatement
    _q_del_following: PreparedStatement
    _q_bump_user: PreparedStatement
    _q_user_counters: PreparedStatement
    _q_followers_top: PreparedStatement
    _q_followers_after: PreparedStatement
    _q_following_top: PreparedStatement
    _q_following_after: PreparedStatement
    _q_scan_follows: PreparedStatement
    _q_scan_followers: PreparedStatement
    _q_scan_following: PreparedStatement
    _q_scan_user_counters: PreparedStatement

    def __init__(
        self,
        settings,
        *,
        replication_factor: int | None = None,
        concurrency: int = 64,
        cas_attempts: int = 10,
        reconcile_grace: float = 2.0,
        fetch_size: int = 2000,
    ):
        self.settings = settings
        self.contact_points = parse_hosts(settings.scylla_hosts)
        self.keyspace = settings.scylla_keyspace
        if not _IDENT.match(self.keyspace):
            raise ValueError(f"SCYLLA_KEYSPACE is not a plain CQL identifier: {self.keyspace!r}")
        self.replication_factor = int(
            replication_factor if replication_factor is not None else settings.scylla_replication_factor or 1
        )
        self.concurrency = concurrency
        self.cas_attempts = cas_attempts
        self.reconcile_grace = reconcile_grace
        self.fetch_size = fetch_size
        self.cluster: Cluster | None = None
        self.session = None
        self._sem: asyncio.Semaphore | None = None
        self._inflight: set[asyncio.Future] = set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self.session is not None:
            return
        self._sem = asyncio.Semaphore(self.concurrency)
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        """Blocking: runs in a thread. Connect, create keyspace and tables, prepare statements."""
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            retry_policy=_NoBlindWriteRetry(),
            consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            serial_consistency_level=ConsistencyLevel.SERIAL,
            row_factory=dict_factory,
        )
        cluster = Cluster(contact_points=self.contact_points, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            session = cluster.connect()
            ddl = _KEYSPACE_DDL.format(ks=self.keyspace, rf=self.replication_factor)
            try:
                session.execute(ddl + _KEYSPACE_TABLETS_OFF)
            except (SyntaxException, ConfigurationException, InvalidRequest) as exc:
                log.debug("keyspace without the tablets option (%s)", exc)
                session.execute(ddl)
            session.set_keyspace(self.keyspace)
            for stmt in SCHEMA:
                session.execute(stmt)
            for name, text in STATEMENTS.items():
                prepared = session.prepare(text)
                prepared.is_idempotent = name in _IDEMPOTENT
                setattr(self, f"_q_{name}", prepared)
        except BaseException:
            cluster.shutdown()
            raise
        self.cluster, self.session = cluster, session

    async def close(self) -> None:
        if self._inflight:  # let shielded edge work finish, so a shutdown does not open the gap
            await asyncio.wait(set(self._inflight), timeout=30)
        cluster, self.cluster, self.session = self.cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def ping(self) -> None:
        await self._execute(SimpleStatement("SELECT release_version FROM system.local", is_idempotent=True))

    # ---------------------------------------------------------------- driver <-> asyncio

    async def _execute(
        self,
        stmt: Statement | PreparedStatement,
        params: Sequence[Any] = (),
        *,
        serial: bool = False,
        paging_state: bytes | None = None,
        fetch_size: int | None = None,
    ) -> ResultSet:
        """Run one request without blocking the loop: the driver's ResponseFuture completes on the
        driver's own thread and hands its page back through call_soon_threadsafe. Only the first
        page is ever touched (iterating a ResultSet further would block on the next page)."""
        if self.session is None:
            raise RuntimeError("CqlEngagementStore is not started")
        if isinstance(stmt, PreparedStatement):
            stmt = stmt.bind(params)
        if serial:
            stmt.consistency_level = ConsistencyLevel.SERIAL
        if fetch_size is not None:
            stmt.fetch_size = fetch_size
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ResultSet] = loop.create_future()

        def settle(setter: Callable[[Any], None], value: Any) -> None:
            if not fut.done():
                setter(value)

        def post(setter_name: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(lambda: settle(getattr(fut, setter_name), value))
            except RuntimeError:  # the loop is closed; nobody is waiting any more
                pass

        response_future = self.session.execute_async(stmt, paging_state=paging_state)
        response_future.add_callbacks(
            lambda rows: post("set_result", ResultSet(response_future, rows)), lambda exc: post("set_exception", exc)
        )
        return await fut

    async def _pages(self, stmt: PreparedStatement, params: Sequence[Any] = ()) -> AsyncIterator[dict]:
        paging_state = None
        while True:
            rs = await self._execute(stmt, params, paging_state=paging_state, fetch_size=self.fetch_size)
            for row in rs.current_rows:
                yield row
            paging_state = rs.paging_state
            if not paging_state:
                return

    async def _bounded(self, fn: Callable[..., Awaitable[Any]], *args) -> Any:
        assert self._sem is not None
        async with self._sem:
            return await fn(*args)

    async def _run_all(self, coros: Iterable[Awaitable[Any]], *, shield: bool = False) -> list[Any]:
        """Run to completion (every one, even if some fail), then raise the first failure."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        if not tasks:
            return []
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        if shield:
            self._inflight.add(gathered)
            gathered.add_done_callback(self._inflight.discard)
            results = await asyncio.shield(gathered)
        else:
            results = await gathered
        errors = [r for r in results if isinstance(r, BaseException)]
        for extra in errors[1:]:
            log.error("engagement store: further failure in the same batch: %r", extra)
        if errors:
            raise errors[0]
        return results

    # ---------------------------------------------------------------- reactions

    async def apply_reactions(self, changes: Sequence[ReactionChange]) -> dict[UUID, dict[str, int]]:
        if not changes:
            return {}
        changes = latest_per_edge(changes)  # no-op for reduced input; one CAS chain per edge
        # Shielded: if the caller is cancelled mid-batch, the started CAS + increment pairs still
        # complete (close() waits for them) instead of leaving counters behind their edges.
        deltas = await self._run_all((self._bounded(self._apply_edge, c) for c in changes), shield=True)
        net: dict[tuple[UUID, str], int] = defaultdict(int)
        for change, delta in zip(changes, deltas):
            net[(change.post_id, change.type)] += delta
        changed = sorted({post for (post, _kind), d in net.items() if d})
        if not changed:
            return {}
        return await self.get_counters(changed)

    async def _apply_edge(self, c: ReactionChange) -> int:
        """Move one edge to `c` if `c` is newer; return the counter delta this call applied."""
        key = (c.post_id, c.user_id, c.type)
        before = await self._cas(
            "edge",
            key,
            c.event_id,
            lambda current, token, now: (c.active, c.event_id, now, token),
            read=self._read_edge,
            lwt_current=self._lwt_current,
            insert=self._q_insert_edge,
            update=self._q_update_edge,
            overwritten="its counter may be off by one until reconcile",
        )
        if before is _STALE:
            return 0  # repeated or stale event: no-op
        old_active = bool(before["active"]) if before is not None else False
        delta = (1 if c.active else -1) if c.active != old_active else 0
        if delta:
            try:
                await self._execute(self._q_bump, (delta, c.post_id, c.type))
            except Exception:
                log.error(
                    "edge %s moved but its counter %+d failed: post_counters(%s, %s) is off by one until `reconcile`",
                    key,
                    delta,
                    c.post_id,
                    c.type,
                )
                raise
        return delta

    async def _cas(
        self,
        what: str,
        key: tuple,
        event_id: UUID,
        values: Callable[[dict | None, UUID, datetime], tuple],
        *,
        read: Callable[..., Awaitable[dict | None]],
        lwt_current: Callable[[ResultSet], Any],
        insert: PreparedStatement,
        update: PreparedStatement,
        overwritten: str | None = None,
    ) -> Any:
        """The compare-and-set loop every edge write goes through (see the module docstring).
        While `event_id` is newer than the edge's, write `values(current, write_id, now)`: with
        `insert` (key columns, then the values; IF NOT EXISTS) when there is no row, else with
        `update` (the values, then the key, then IF last_event_id and active as read). Returns the
        edge state the applied write replaced (None: there was no row), or _STALE when the edge
        already holds this event or a newer one; raises CasContention after `cas_attempts` lost
        rounds. `overwritten`: what to add to the warning when a write of unknown outcome turns out
        to have been overtaken by a newer event."""
        current = await read(key, serial=False)  # a stale read only costs a CAS retry
        for attempt in range(self.cas_attempts):
            if current is not None and not _newer(event_id, current["last_event_id"]):
                return _STALE
            before, token = current, uuid4()
            row = values(before, token, datetime.now(UTC))
            if before is None:
                stmt, params = insert, (*key, *row)
            else:
                stmt, params = update, (*row, *key, before["last_event_id"], before["active"])
            try:
                rs = await self._execute(stmt, params)
                applied = rs.was_applied
            except _UNKNOWN_OUTCOME as exc:
                # Did our write land? Only a linearizable read can say (it also finishes any
                # half-done Paxos round), and only our random write_id can tell our write from an
                # identical concurrent one (same event redelivered to another worker).
                log.warning("%s %s: CAS outcome unknown (%r); checking", what, key, exc)
                current = await read(key, serial=True)
                applied = current is not None and current.get("write_id") == token
                if not applied:
                    if overwritten and current is not None and _newer(current["last_event_id"], event_id):
                        log.warning(
                            "%s %s: a newer event overwrote it before our CAS outcome was known; %s",
                            what,
                            key,
                            overwritten,
                        )
                    await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                    continue
            else:
                if not applied:
                    current = lwt_current(rs)
                    if current is _UNKNOWN:
                        current = await read(key, serial=True)
                    continue
            return before
        raise CasContention(f"{what} {key}: compare-and-set lost {self.cas_attempts} times")

    async def _read_edge(self, key: tuple[UUID, UUID, str], *, serial: bool) -> dict | None:
        rs = await self._execute(self._q_read_edge, key, serial=serial)
        rows = rs.current_rows
        if not rows or rows[0]["last_event_id"] is None:
            return None
        return rows[0]

    @staticmethod
    def _lwt_current(rs: ResultSet):
        """The row state a failed CAS reported: a dict, None (no row), or _UNKNOWN. Cassandra
        returns the whole row for a failed IF NOT EXISTS and the condition columns for a failed
        IF; Scylla always returns the whole old row (nulls when there is none)."""
        row = rs.current_rows[0]
        if "last_event_id" not in row or "active" not in row:
            return _UNKNOWN
        if row["last_event_id"] is None:
            return None
        return {"active": row["active"], "last_event_id": row["last_event_id"], "write_id": row.get("write_id")}

    # ---------------------------------------------------------------- counters

    async def _post_counters(self, post_id: UUID) -> dict[str, int]:
        out: dict[str, int] = {}
        async for row in self._pages(self._q_post_counters, (post_id,)):
            if row["count"] is not None:
                out[row["kind"]] = int(row["count"])
        return out

    async def get_counters(self, post_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        unique = list(dict.fromkeys(post_ids))
        results = await self._run_all(self._bounded(self._post_counters, p) for p in unique)
        return dict(zip(unique, results))

    # ---------------------------------------------------------------- repair

    async def reconcile(self) -> int:
        # 1. Full scan: which posts look wrong?
        truth: dict[tuple[UUID, str], int] = defaultdict(int)
        async for row in self._pages(self._q_scan_edges):
            truth[(row["post_id"], row["type"])] += 1 if row["active"] else 0
        suspects: set[UUID] = set()
        seen: set[tuple[UUID, str]] = set()
        async for row in self._pages(self._q_scan_counters):
            if row["kind"] not in REACTION_TYPES:
                continue  # other counters (views, comments...) are not derived from edges
            key = (row["post_id"], row["kind"])
            seen.add(key)
            if int(row["count"] or 0) != truth.get(key, 0):
                suspects.add(row["post_id"])
        suspects.update(post for (post, kind), n in truth.items() if n and (post, kind) not in seen)
        if not suspects:
            return 0
        # 2. Per suspect: correct only a difference that holds still.
        fixed = await self._run_all(self._reconcile_post(p) for p in sorted(suspects))
        return sum(fixed)

    async def _post_snapshot(self, post_id: UUID):
        """(active edges per kind, reaction counters, fingerprint of every edge version)."""
        assert self._sem is not None
        async with self._sem:
            counters = {k: v for k, v in (await self._post_counters(post_id)).items() if k in REACTION_TYPES}
            truth: dict[str, int] = defaultdict(int)
            digest = hashlib.blake2b(digest_size=16)
            async for row in self._pages(self._q_post_edges, (post_id,)):
                truth[row["type"]] += 1 if row["active"] else 0
                digest.update(
                    row["user_id"].bytes
                    + row["type"].encode()
                    + b"\0"
                    + (row["last_event_id"].bytes if row["last_event_id"] else b"")
                )
        return dict(truth), counters, digest.digest()

    async def _reconcile_post(self, post_id: UUID) -> int:
        before = await self._post_snapshot(post_id)
        for _ in range(3):
            await asyncio.sleep(self.reconcile_grace)
            after = await self._post_snapshot(post_id)
            if after == before:
                break
            before = after
        else:
            log.warning("reconcile: post %s kept changing; skipped this run", post_id)
            return 0
        truth, counters, _ = after
        fixed = 0
        for kind in sorted(set(truth) | set(counters)):
            diff = truth.get(kind, 0) - counters.get(kind, 0)
            if diff:
                await self._execute(self._q_bump, (diff, post_id, kind))
                log.info("reconcile: post %s %s %d -> %d", post_id, kind, counters.get(kind, 0), truth.get(kind, 0))
                fixed += 1
        return fixed

    # ---------------------------------------------------------------- follows
    #
    # Same CAS protocol as reaction edges. After the CAS that flips an edge, two more writes: the
    # list rows (a logged batch over both list tables: idempotent, so retried like any read) and
    # the two counters (one counter batch: not idempotent, never retried). A crash between the CAS
    # and them leaves the lists and/or counters behind the edge; `reconcile_follows` repairs both.

    async def apply_follows(self, changes: Sequence[FollowChange]) -> dict[UUID, dict[str, int]]:
        if not changes:
            return {}
        changes = latest_per_edge(changes)
        deltas = await self._run_all((self._bounded(self._apply_follow_edge, c) for c in changes), shield=True)
        changed = sorted(
            {
                user
                for change, delta in zip(changes, deltas)
                if delta
                for user in (change.follower_id, change.followee_id)
            }
        )
        if not changed:
            return {}
        return await self.get_follow_counts(changed)

    async def _apply_follow_edge(self, c: FollowChange) -> int:
        """Move one follow edge to `c` if `c` is newer; return the delta (+1, -1, 0) it applied."""
        key = (c.follower_id, c.followee_id)

        def values(current: dict | None, token: UUID, now: datetime) -> tuple:
            old_active, old_since = _follow_state(current)
            since = c.event_id if c.active and not old_active else (old_since or c.event_id)
            return (c.active, c.event_id, since, now, token)

        before = await self._cas(
            "follow edge",
            key,
            c.event_id,
            values,
            read=self._read_follow,
            lwt_current=self._lwt_follow_current,
            insert=self._q_insert_follow,
            update=self._q_update_follow,
        )
        if before is _STALE:
            return 0
        old_active, old_since = _follow_state(before)
        if c.active == old_active:
            return 0
        delta = 1 if c.active else -1
        try:  # a flip to active wrote `since` = c.event_id
            # an active edge always has its `since` (written with the flip to active)
            await self._follow_flipped(c, delta, c.event_id if delta > 0 else cast(UUID, old_since))
        except Exception:
            log.error(
                "follow edge %s moved (%+d) but its lists/counters failed: off until `reconcile_follows`",
                key,
                delta,
            )
            raise
        return delta

    async def _follow_flipped(self, c: FollowChange, delta: int, since: UUID) -> None:
        lists = BatchStatement(batch_type=BatchType.LOGGED)
        if delta > 0:
            lists.add(self._q_add_follower, (c.followee_id, since.bytes, c.follower_id))
            lists.add(self._q_add_following, (c.follower_id, since.bytes, c.followee_id))
        else:
            lists.add(self._q_del_follower, (c.followee_id, since.bytes, c.follower_id))
            lists.add(self._q_del_following, (c.follower_id, since.bytes, c.followee_id))
        lists.is_idempotent = True
        await self._execute(lists)
        counters = BatchStatement(batch_type=BatchType.COUNTER)
        counters.add(self._q_bump_user, (delta, c.followee_id, "followers"))
        counters.add(self._q_bump_user, (delta, c.follower_id, "following"))
        await self._execute(counters)

    async def _read_follow(self, key: tuple[UUID, UUID], *, serial: bool) -> dict | None:
        rows = (await self._execute(self._q_read_follow, key, serial=serial)).current_rows
        if not rows or rows[0]["last_event_id"] is None:
            return None
        return rows[0]

    @staticmethod
    def _lwt_follow_current(rs: ResultSet):
        """Like _lwt_current, and the flip to inactive also needs the row's `since`."""
        row = rs.current_rows[0]
        if "last_event_id" not in row or "active" not in row or "since" not in row:
            return _UNKNOWN
        if row["last_event_id"] is None:
            return None
        return {
            "active": row["active"],
            "last_event_id": row["last_event_id"],
            "since": row["since"],
            "write_id": row.get("write_id"),
        }

    async def _user_counts(self, user_id: UUID) -> dict[str, int]:
        out = dict.fromkeys(FOLLOW_COUNTERS, 0)
        async for row in self._pages(self._q_user_counters, (user_id,)):
            if row["kind"] in out and row["count"] is not None:
                out[row["kind"]] = int(row["count"])
        return out

    async def get_follow_counts(self, user_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        unique = list(dict.fromkeys(user_ids))
        results = await self._run_all(self._bounded(self._user_counts, u) for u in unique)
        return dict(zip(unique, results))

    async def is_following(self, follower_id: UUID, followee_id: UUID) -> bool:
        row = await self._read_follow((follower_id, followee_id), serial=False)
        return bool(row and row["active"])

    async def _user_reactions(self, post_id: UUID, user_id: UUID) -> list[str]:
        rows = (await self._execute(self._q_user_edges, (post_id, user_id))).current_rows
        return sorted(r["type"] for r in rows if r["active"])

    async def reactions_of(self, user_id: UUID, post_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
        unique = list(dict.fromkeys(post_ids))
        results = await self._run_all(self._bounded(self._user_reactions, p, user_id) for p in unique)
        return {p: kinds for p, kinds in zip(unique, results) if kinds}

    async def reactions_by_user(self, user_id: UUID) -> list[tuple[UUID, str]]:
        rows = self._pages(self._q_edges_of_user, (user_id,))
        return sorted([(r["post_id"], r["type"]) async for r in rows if r["active"]])

    async def following_among(self, follower_id: UUID, followee_ids: Sequence[UUID]) -> set[UUID]:
        unique = list(dict.fromkeys(followee_ids))
        results = await self._run_all(self._bounded(self.is_following, follower_id, f) for f in unique)
        return {f for f, yes in zip(unique, results) if yes}

    async def _list(self, direction: str, user_id: UUID, after: FollowLink | None, limit: int) -> list[FollowLink]:
        if after is None:
            rs = await self._execute(getattr(self, f"_q_{direction}_top"), (user_id, limit))
        else:
            rs = await self._execute(
                getattr(self, f"_q_{direction}_after"), (user_id, after.since.bytes, after.user_id, limit)
            )
        other = "follower_id" if direction == "followers" else "followee_id"
        return [FollowLink(user_id=r[other], since=UUID(bytes=r["since"])) for r in rs.current_rows]

    async def _follow_snapshot(self):
        """(counter truth, counters, list-row truth, list rows) from full scans."""
        truth: dict[tuple[UUID, str], int] = defaultdict(int)
        rows_truth: set[tuple[str, UUID, bytes, UUID]] = set()
        async for r in self._pages(self._q_scan_follows):
            if r["active"]:
                truth[(r["followee_id"], "followers")] += 1
                truth[(r["follower_id"], "following")] += 1
                rows_truth.add(("followers", r["followee_id"], r["since"].bytes, r["follower_id"]))
                rows_truth.add(("following", r["follower_id"], r["since"].bytes, r["followee_id"]))
        have: dict[tuple[UUID, str], int] = {}
        async for r in self._pages(self._q_scan_user_counters):
            if r["kind"] in FOLLOW_COUNTERS:
                have[(r["user_id"], r["kind"])] = int(r["count"] or 0)
        rows_have: set[tuple[str, UUID, bytes, UUID]] = set()
        async for r in self._pages(self._q_scan_followers):
            rows_have.add(("followers", r["user_id"], r["since"], r["follower_id"]))
        async for r in self._pages(self._q_scan_following):
            rows_have.add(("following", r["user_id"], r["since"], r["followee_id"]))
        return dict(truth), have, rows_truth, rows_have

    async def reconcile_follows(self) -> int:
        """Two full scans `reconcile_grace` apart; corrects only differences present in both (a
        write in flight right after its CAS looks like a lost one for a moment). Full scans: a
        batch job, sized for what one process can hold."""
        first = await self._follow_snapshot()
        await asyncio.sleep(self.reconcile_grace)
        truth, have, rows_truth, rows_have = await self._follow_snapshot()
        t1, h1, rt1, rh1 = first
        fixed = 0
        for key in sorted(set(truth) | set(have)):
            want, got = truth.get(key, 0), have.get(key, 0)
            if want != got and t1.get(key, 0) == want and h1.get(key, 0) == got:
                await self._execute(self._q_bump_user, (want - got, *key))
                log.info("reconcile: user %s %s %d -> %d", key[0], key[1], got, want)
                fixed += 1
        add = {"followers": self._q_add_follower, "following": self._q_add_following}
        drop = {"followers": self._q_del_follower, "following": self._q_del_following}
        for direction, user, since, other in sorted((rows_truth - rows_have) & (rt1 - rh1)):
            await self._execute(add[direction], (user, since, other))
            fixed += 1
        for direction, user, since, other in sorted((rows_have - rows_truth) & (rh1 - rt1)):
            await self._execute(drop[direction], (user, since, other))
            fixed += 1
        return fixed
