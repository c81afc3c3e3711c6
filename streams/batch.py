"""Batch agents: consume a topic in batches with a plain aiokafka consumer inside the worker.

Why not a Faust agent for hot paths: Faust hands each message through its own per-message
machinery before `take()` can group them, which caps an agent at 3-7% of what the broker and
client deliver (ARCHITECTURE.md §4; docs/benchmarks.md). A batch agent gets whole fetches
(`getmany`), hands the handler a list of typed events, and commits the offsets only after
the handler returns, so delivery is at-least-once and handlers must be idempotent. Each message
is decoded once, here: a `Received[P]` (models/core/events.py), its payload an instance of the
catalog's model P. A message that does not validate (not an envelope, a type the topic does not
list, a payload its model refuses) is a poison event: it goes to `<topic>.dlq` at once, without
reaching the handler; an event the handler keeps failing on goes there after AGENT_MAX_ATTEMPTS
(TopicRunner; docs/agents.md "Dead letters"); `make dlq-replay AGENT=…` puts them back.

Adding one: a file in streams/agents/ with

    @batch_agent(topics.REACTIONS)             # or several: @batch_agent(A, B, name="x")
    async def my_agent(events: list[Received[ReactionPayload]], svc) -> None: ...

and a test that awaits `my_agent([received(Event(...)), ...], svc)` directly (no broker needed).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from infra.kafka import RecordRefused
from infra.settings import Settings
from models.core.errors import Unavailable
from models.core.events import Received, decoder
from models.core.topics import Topic, dlq_name
from models.engagement.cql import OUTAGES as CQL_OUTAGES

log = logging.getLogger(__name__)

Handler = Callable[[list[Received], object], Awaitable[None]]

# CPython's cyclic garbage collector runs a young collection every 700 net container allocations.
# A batch keeps tens of thousands of containers alive until it is done (records, decoded
# envelopes, the handler's objects), so with that default the collector rescans them dozens of
# times per batch and promotes them into the older generations, whose collections walk the whole
# heap: a quarter of the counters agent's time (docs/benchmarks.md). Batches are freed by
# reference counting; with this threshold they are usually gone before the collector looks.
GC_GEN0_THRESHOLD = 100_000
TANSU_LIVE_WAIT_MS, TANSU_BACKGROUND_WAIT_MS = 10, 250  # see BatchRunner._fetch_max_wait_ms
FETCH_SLICE = 500  # records taken and decoded between two yields to the event loop


def tune_gc() -> None:
    """Raise the process's gen-0 GC threshold to GC_GEN0_THRESHOLD (never lower it)."""
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


@dataclass
class BatchAgent:
    name: str
    # One topic, or several: then one consumer (and consumer group) per topic, one handler.
    topics: tuple[Topic, ...] | Topic
    handler: Handler
    # The largest batch the handler gets, or one per topic ({topic: n}; others get 2000).
    max_records: int | dict[Topic, int] = 2000
    # A handler that may run longer than this (a transcode) must raise it, or the group evicts
    # the consumer mid-batch and the batch is redelivered to another one.
    max_poll_interval_ms: int = 300_000
    # A client is waiting on its output (a websocket push). Only matters on the embedded broker,
    # where every idle consumer costs broker and worker CPU in proportion to its poll rate.
    live: bool = False
    # Loads what the handler would otherwise load on its first batch (a model), in a thread
    # before the worker reports ready: a lazy load on the first events holds the GIL for
    # seconds and delays every other agent of the process (POST -> push p99 in docs/benchmarks.md).
    warmup: Callable[[Settings], object] | None = None
    # Consumer group of each topic, without CONSUMER_GROUP_PREFIX: {topic: "name"}. Default
    # `<name>` for a one-topic agent, `<name>.<topic name>` for each topic of a multi-topic one.
    # Agents folded from one-topic agents keep the old groups so committed offsets carry over.
    groups: dict[Topic, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.topics, Topic):
            self.topics = (self.topics,)
        if not self.topics:
            raise ValueError(f"batch agent {self.name!r} has no topic")
        if unknown := set(self.groups) - set(self.topics):
            raise ValueError(f"batch agent {self.name!r}: groups for topics it does not read: {unknown}")

    @property
    def topic_list(self) -> tuple[Topic, ...]:
        assert isinstance(self.topics, tuple)
        return self.topics

    def group(self, topic: Topic, prefix: str) -> str:
        """The consumer group that reads `topic` for this agent."""
        if topic in self.groups:
            return f"{prefix}.{self.groups[topic]}"
        if len(self.topic_list) == 1:
            return f"{prefix}.{self.name}"
        return f"{prefix}.{self.name}.{topic.name}"

    def records_of(self, topic: Topic) -> int:
        if isinstance(self.max_records, dict):
            return self.max_records.get(topic, 2000)
        return self.max_records

    async def __call__(self, events: list[Received], svc) -> None:
        await self.handler(events, svc)


REGISTRY: dict[str, BatchAgent] = {}


def ids_of(events: list[Received], etype: str, field: str) -> list[UUID]:
    """The distinct ids in `payload.<field>` of the events of type `etype`, first seen first."""
    return list(dict.fromkeys(getattr(e.payload, field) for e in events if e.type == etype))


def batch_agent(
    *topics: Topic,
    name: str | None = None,
    max_records: int | dict[Topic, int] = 2000,
    max_poll_interval_ms: int = 300_000,
    live: bool = False,
    warmup: Callable[[Settings], object] | None = None,
    groups: dict[Topic, str] | None = None,
):
    def register(fn: Handler) -> BatchAgent:
        agent = BatchAgent(
            name or fn.__name__, topics, fn, max_records, max_poll_interval_ms, live, warmup, dict(groups or {})
        )
        if agent.name in REGISTRY:
            raise ValueError(f"batch agent {agent.name!r} is defined twice")
        REGISTRY[agent.name] = agent
        return agent

    return register


@dataclass
class RunnerStatus:
    group: str
    joined: bool = False
    partitions: list[str] = field(default_factory=list)
    consumed: int = 0
    malformed: int = 0
    dead_letters: int = 0
    lag: dict[str, int] = field(default_factory=dict)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, status: RunnerStatus):
        self.status = status

    async def on_partitions_revoked(self, revoked):
        self.status.joined = False

    async def on_partitions_assigned(self, assigned):
        self.status.partitions = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        self.status.joined = True


class _Stopping(Exception):
    """The worker is stopping while a failing batch is retried: leave it uncommitted."""


def transient(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says a store or the broker is unavailable: such a batch
    is retried for as long as it takes, never dead-lettered (an outage is not a bad event)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TRANSIENT) or getattr(seen, "connection_invalidated", False):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, broken pipe
    TimeoutError,
    Unavailable,
    KafkaError,
    RedisConnectionError,
    RedisTimeoutError,
    DisconnectionError,
    SATimeoutError,
    *CQL_OUTAGES,  # ScyllaDB: ENGAGEMENT_STORE=cql (models/engagement/cql.py)
)


def dead_letter(agent: str, rec, exc: BaseException | dict, attempts: int) -> bytes:
    """The dead letter of record `rec`: one JSON value (docs/agents.md "Dead letters"). `exc`: the
    handler's error, or a poison event's {"type", "message"} (`poison_error`)."""
    try:
        envelope, fmt = orjson.loads(rec.value), "json"
    except (orjson.JSONDecodeError, TypeError):
        value = rec.value or b""
        envelope, fmt = value.decode("utf-8", "replace"), "text"
    if isinstance(exc, BaseException):
        error = {"type": type(exc).__name__, "message": str(exc)[:4000]}
    else:
        error = {"type": exc["type"], "message": exc["message"][:4000]}
    return orjson.dumps(
        {
            "envelope": envelope,
            "format": fmt,
            "error": error,
            "agent": agent,
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
            "attempts": attempts,
            "dead_at": time.time(),
        }
    )


def _letter_key(rec) -> str:
    """The event id of a dead-lettered record, or its place if it has none."""
    try:
        return str(orjson.loads(rec.value)["id"])
    except (ValueError, TypeError, KeyError):
        return f"{rec.topic}:{rec.partition}:{rec.offset}"


def poison_error(exc: Exception, topic: Topic) -> dict:
    """A message the decoder refused -> the dead letter's error: {"type": "ValidationError"} when
    only its payload is wrong, "UnknownEventType" for a type `topic` does not list, else
    "MalformedEnvelope" (not JSON, not an object, an envelope field missing or wrong)."""
    if not isinstance(exc, ValidationError):  # not bytes at all (a tombstone)
        return {"type": "MalformedEnvelope", "message": f"not an event envelope: {exc}"}
    errors = exc.errors(include_url=False, include_input=False)

    def where(e: ErrorDetails) -> str:
        loc = e["loc"][1:] if e["loc"] and e["loc"][0] in topic.events else e["loc"]  # drop the union tag
        return ".".join(map(str, loc))

    message = "; ".join(f"{where(e)}: {e['msg']}" if where(e) else e["msg"] for e in errors)
    if all(where(e).startswith("payload") for e in errors):
        kind = "ValidationError"
    elif any(e["type"] == "union_tag_invalid" or (where(e) == "type" and e["type"] == "literal_error") for e in errors):
        kind = "UnknownEventType"
    else:
        kind, message = "MalformedEnvelope", f"not an event envelope: {message}"
    return {"type": kind, "message": message}


class BatchRunner:
    """Runs one BatchAgent: one TopicRunner (consumer group) per topic of the agent."""

    def __init__(self, agent: BatchAgent, svc, settings: Settings):
        self.agent, self.svc, self.settings = agent, svc, settings
        self.runners = [TopicRunner(agent, t, svc, settings) for t in agent.topic_list]

    @property
    def status(self) -> RunnerStatus:
        """The status of the first topic's consumer (a one-topic agent's only one)."""
        return self.runners[0].status

    def _fetch_max_wait_ms(self) -> int:
        return self.runners[0]._fetch_max_wait_ms()

    async def start(self) -> None:
        await asyncio.gather(*(r.start() for r in self.runners))

    async def stop(self, timeout: float = 8.0) -> None:
        await asyncio.gather(*(r.stop(timeout) for r in self.runners), return_exceptions=True)

    def snapshot(self) -> dict:
        sts = [(r.topic.name, r.status) for r in self.runners]
        return {
            "group": sts[0][1].group,
            "groups": {t: st.group for t, st in sts},
            "joined": all(st.joined for _, st in sts),
            "partitions": sorted(p for _, st in sts for p in st.partitions),
            "consumed": {t: st.consumed for t, st in sts},
            "malformed": sum(st.malformed for _, st in sts),
            "dead_letters": {t: st.dead_letters for t, st in sts},
            "oldest_dead_letter_at": {r.topic.name: r.oldest_dead_letter_at for r in self.runners},
            "lag": {k: v for _, st in sts for k, v in st.lag.items()},
        }


class TopicRunner:
    """One topic of a BatchAgent: fetch -> decode -> handler -> commit. The next batch is fetched
    and decoded while the handler waits on its stores.

    A batch whose handler raises is retried with backoff; after AGENT_MAX_ATTEMPTS failures it is
    split in halves (bisected) to find the events that fail on their own: the rest are applied,
    those go to `<topic>.dlq`, and the offsets are committed. A failure that says a store or the
    broker is unavailable (`transient`) is retried for as long as it lasts, never dead-lettered.
    A poison message (one the topic's decoder refuses) goes to `<topic>.dlq` at once with
    attempts 1, without reaching the handler; the rest of its batch is handled and committed."""

    def __init__(self, agent: BatchAgent, topic: Topic, svc, settings: Settings):
        self.agent, self.topic, self.svc, self.settings = agent, topic, svc, settings
        self.status = RunnerStatus(group=agent.group(topic, settings.consumer_group_prefix))
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._positions: dict[TopicPartition, int] = {}
        self._decode_value = decoder(topic)
        # Dead letters not applied since (docs/agents.md "What to alert on"): event id (or the
        # record's place, for one without an id) -> when it was first dead-lettered. An entry goes
        # when this runner applies its event (a replay); one dead-lettered again keeps its time.
        self._unresolved: dict[str, float] = {}
        self._just_dead: set[str] = set()  # dead-lettered during the current batch

    async def start(self) -> None:
        cfg = self.settings
        tune_gc()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.kafka_bootstrap,
            group_id=self.status.group,
            client_id=f"{self.status.group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a new group starts from the beginning of the log
            session_timeout_ms=cfg.kafka_session_timeout_ms,
            heartbeat_interval_ms=cfg.kafka_heartbeat_ms,
            max_poll_interval_ms=self.agent.max_poll_interval_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=self._fetch_max_wait_ms(),
        )
        self._consumer.subscribe([self.topic.name], listener=_Listener(self.status))
        await self._consumer.start()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"agent:{self.agent.name}:{self.topic.name}"
        )

    def _fetch_max_wait_ms(self) -> int:
        # Kafka answers a waiting fetch as soon as data arrives. The embedded Tansu broker does
        # not (a record produced during the wait is delivered up to about half the wait later),
        # so there the wait adds to the end-to-end latency: like -> websocket push p50 53 ms with
        # 100 ms, 10 ms with 10 ms (docs/benchmarks.md). But 10 ms is ~100 empty fetches/s per
        # idle consumer: only live agents pay that; the rest add up to ~1/8 s of latency.
        if self.settings.kafka_flavor != "tansu":
            return 100
        return TANSU_LIVE_WAIT_MS if self.agent.live else TANSU_BACKGROUND_WAIT_MS

    async def stop(self, timeout: float = 8.0) -> None:
        self._stopping.set()
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()  # leaves the group: partitions move at once

    def _decode(self, records, events: list[Received], good: list, bad: list) -> None:
        """Append each record's typed event to `events` and the record to `good`, or (record,
        error) to `bad` for a poison one."""
        decode = self._decode_value
        for r in records:
            try:
                events.append(decode(r.value))
            except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                error = poison_error(exc, self.topic)
                self.status.malformed += 1
                bad.append((r, error))
                log.error(
                    "poison event: to the dead letters",
                    extra={
                        "agent": self.agent.name,
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "error": error["message"],
                    },
                )
                continue
            good.append(r)

    async def _handle(self, events: list[Received], records: list) -> bool:
        """Whether the batch is done (applied, or its failing events dead-lettered)."""
        try:
            await self.agent.handler(events, self.svc)
            return True
        except Exception as exc:
            first = exc
        try:
            return await self._recover(list(zip(records, events)), first)
        except _Stopping:
            return False  # uncommitted: the next owner of the partitions redoes it

    def _delays(self) -> Iterator[float]:
        """Retry delays: AGENT_RETRY_BACKOFF, doubling up to AGENT_RETRY_BACKOFF_MAX."""
        delay = self.settings.agent_retry_backoff
        while True:
            yield delay
            delay = min(delay * 2, self.settings.agent_retry_backoff_max)

    async def _pause(self, delay: float) -> None:
        if self._stopping.is_set():
            raise _Stopping
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            return
        raise _Stopping

    async def _recover(self, pairs: list[tuple], exc: Exception) -> bool:
        """`pairs`: the failed batch's (record, event), in order."""
        attempts, delays, size = 1, self._delays(), len(pairs)
        while attempts < self.settings.agent_max_attempts or transient(exc):
            log.error(
                "agent batch failed; retrying",
                exc_info=exc,
                extra={"agent": self.agent.name, "topic": self.topic.name, "events": size, "attempt": attempts},
            )
            await self._pause(next(delays))
            try:
                await self.agent.handler([ev for _, ev in pairs], self.svc)
                return True
            except Exception as e:
                exc, attempts = e, attempts + 1
        log.error(
            "agent batch failed %d times; looking for the events that fail on their own",
            attempts,
            exc_info=exc,
            extra={"agent": self.agent.name, "topic": self.topic.name, "events": size},
        )
        dead = await self._isolate(pairs, attempts, exc)
        if dead:
            await self._dead_letters(dead)
        return True

    async def _attempt(self, events: list[Received]) -> Exception | None:
        """Run the handler on `events`: None if it succeeds, else its (not transient) error."""
        delays = self._delays()
        while True:
            try:
                await self.agent.handler(events, self.svc)
                return None
            except Exception as exc:
                if not transient(exc):
                    return exc
                log.warning("agent batch failed; retrying", extra={"agent": self.agent.name, "error": repr(exc)})
            await self._pause(next(delays))

    async def _isolate(self, pairs: list[tuple], tried: int, failed: Exception | None) -> list[tuple]:
        """The (record, error, attempts) of the events of `pairs` that fail on their own; the
        others are applied. `failed`: the error of a run on exactly `pairs` already made."""
        if not pairs:
            return []
        if failed is None:
            failed = await self._attempt([ev for _, ev in pairs])
            if failed is None:
                return []
            tried += 1
        if len(pairs) == 1:
            return [(pairs[0][0], failed, tried)]
        mid = len(pairs) // 2
        return await self._isolate(pairs[:mid], tried, None) + await self._isolate(pairs[mid:], tried, None)

    async def _dead_letters(self, dead: list[tuple]) -> None:
        """Write `dead` [(record, error, attempts)] to `<topic>.dlq`, retrying until the broker takes them."""
        items = [(dlq_name(r.topic), r.key, dead_letter(self.agent.name, r, err, n)) for r, err, n in dead]
        delays = self._delays()
        while True:
            try:
                await self.svc.producer.send_many(items)  # the process's producer (infra/kafka.py)
                break
            except (Unavailable, RecordRefused) as exc:
                log.warning("dead letters not written; retrying", extra={"agent": self.agent.name, "error": repr(exc)})
            await self._pause(next(delays))
        for r, err, n in dead:
            log.error(
                "event dead-lettered",
                extra={
                    "agent": self.agent.name,
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "attempts": n,
                    "error": repr(err),
                },
            )
        self.status.dead_letters += len(dead)
        now = time.time()
        for r, _, _ in dead:
            key = _letter_key(r)
            self._just_dead.add(key)
            self._unresolved.setdefault(key, now)

    def _resolve(self, events: list[Received]) -> None:
        """Forget the dead letters of `events`, applied now, except those dead-lettered again."""
        for e in events:
            key = str(e.id)
            if key not in self._just_dead:
                self._unresolved.pop(key, None)

    @property
    def oldest_dead_letter_at(self) -> float | None:
        """When the oldest dead letter not applied since was written (None: none)."""
        return min(self._unresolved.values(), default=None)

    async def _fetch(self) -> tuple[dict, list[Received], list, list] | None:
        """Up to max_records records, their typed events and the poison ones, ({tp: records},
        events, the events' records, [(record, error)]), or None if nothing came. Taken in slices
        of FETCH_SLICE records, yielding to the event loop between slices: when this runs ahead
        during a handler, the handler's store calls go out as soon as they are ready and this work
        overlaps the stores' own."""
        limit, batches, taken, timeout_ms = self.agent.records_of(self.topic), {}, 0, 200
        events: list[Received] = []
        good: list = []
        bad: list = []
        while taken < limit:
            try:
                got = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=min(FETCH_SLICE, limit - taken))
            except KafkaError as exc:
                log.warning("fetch failed", extra={"agent": self.agent.name, "error": repr(exc)})
                if batches:
                    break  # what was taken is good: handle it
                await asyncio.sleep(1)
                return None
            if not got:
                break
            records = []
            for tp, recs in got.items():
                batches.setdefault(tp, []).extend(recs)
                records.extend(recs)
            taken += len(records)
            self._decode(records, events, good, bad)
            timeout_ms = 0  # then only what the consumer already holds
            await asyncio.sleep(0)
        await self._update_lag()
        if not batches:
            return None
        return batches, events, good, bad

    async def _run(self) -> None:
        consumer = self._consumer
        ahead: asyncio.Future | None = None
        try:
            while not self._stopping.is_set():
                fetched = await (ahead if ahead is not None else self._fetch())
                ahead = None
                if fetched is None:
                    continue
                batches, events, good, bad = fetched
                # The next fetch (broker round trip and decoding) runs while this batch's handler
                # waits on its stores. Handlers still run one at a time, in order, and a batch's
                # offsets are committed only after its own handler returned.
                ahead = asyncio.ensure_future(self._fetch())
                self._just_dead.clear()
                if events and not await self._handle(events, good):
                    return
                if self._unresolved and events:
                    self._resolve(events)
                if bad:
                    try:  # a poison event is tried once: decoding it again gives the same answer
                        await self._dead_letters([(r, error, 1) for r, error in bad])
                    except _Stopping:
                        return
                offsets = {tp: OffsetAndMetadata(recs[-1].offset + 1, "") for tp, recs in batches.items()}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, KafkaError) as exc:
                    # Partitions moved during the batch; the new owner re-applies it (idempotent).
                    log.warning("commit failed", extra={"agent": self.agent.name, "error": repr(exc)})
                    continue
                self._positions.update({tp: om.offset for tp, om in offsets.items()})
                self.status.consumed += len(events)
        finally:
            if ahead is not None:  # stopping: records fetched ahead are left uncommitted
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _update_lag(self) -> None:
        consumer, lag = self._consumer, {}
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            done = self._positions.get(tp)
            if done is None:
                try:
                    done = await consumer.position(tp)
                except KafkaError:
                    continue
            lag[f"{tp.topic}:{tp.partition}"] = max(0, hw - done)
        self.status.lag = lag
