"""Batch agents: consume a topic in batches with a plain aiokafka consumer inside the worker.

Why not a Faust agent for hot paths: Faust hands each message through its own per-message
machinery before `take()` can group them, which caps an agent at 3-7% of what the broker and
client deliver (ARCHITECTURE.md §4; docs/benchmarks.md). A batch agent gets whole fetches
(`getmany`), hands the handler a list of decoded envelopes, and commits the offsets only after
the handler returns, so delivery is at-least-once and handlers must be idempotent.

Adding one: a file in streams/agents/ with

    @batch_agent(topics.SOME_TOPIC)
    async def my_agent(events: list[dict], svc) -> None: ...

and a test that awaits `my_agent(events, svc)` directly (no broker needed).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from infra.settings import Settings
from models.core.topics import Topic

log = logging.getLogger(__name__)

Handler = Callable[[list[dict], object], Awaitable[None]]

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
    topic: Topic
    handler: Handler
    max_records: int = 2000
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

    async def __call__(self, events: list[dict], svc) -> None:
        await self.handler(events, svc)


REGISTRY: dict[str, BatchAgent] = {}


def ids_of(events: list[dict], etype: str, field: str) -> list[UUID]:
    """The distinct ids in `payload[field]` of the events of type `etype`, first seen first."""
    return list(dict.fromkeys(UUID(e["payload"][field]) for e in events if e.get("type") == etype))


def batch_agent(
    topic: Topic,
    *,
    name: str | None = None,
    max_records: int = 2000,
    max_poll_interval_ms: int = 300_000,
    live: bool = False,
    warmup: Callable[[Settings], object] | None = None,
):
    def register(fn: Handler) -> BatchAgent:
        agent = BatchAgent(name or fn.__name__, topic, fn, max_records, max_poll_interval_ms, live, warmup)
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
    lag: dict[str, int] = field(default_factory=dict)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, status: RunnerStatus):
        self.status = status

    async def on_partitions_revoked(self, revoked):
        self.status.joined = False

    async def on_partitions_assigned(self, assigned):
        self.status.partitions = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        self.status.joined = True


class BatchRunner:
    """Runs one BatchAgent: fetch -> decode -> handler -> commit, retrying the handler (never
    skipping) until it succeeds or the partitions move to another worker. The next batch is
    fetched and decoded while the handler waits on its stores."""

    def __init__(self, agent: BatchAgent, svc, settings: Settings):
        self.agent, self.svc, self.settings = agent, svc, settings
        self.status = RunnerStatus(group=f"{settings.consumer_group_prefix}.{agent.name}")
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._positions: dict[TopicPartition, int] = {}

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
        self._consumer.subscribe([self.agent.topic.name], listener=_Listener(self.status))
        await self._consumer.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"agent:{self.agent.name}")

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

    def _decode(self, records) -> list[dict]:
        events = []
        for r in records:
            try:
                ev = orjson.loads(r.value)
                if not isinstance(ev, dict) or "type" not in ev or "id" not in ev:
                    raise ValueError("not an event envelope")
                events.append(ev)
            except ValueError as exc:
                self.status.malformed += 1
                log.error(
                    "malformed event skipped",
                    extra={
                        "agent": self.agent.name,
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "error": str(exc),
                    },
                )
        return events

    async def _handle(self, events: list[dict]) -> bool:
        delay = 0.2
        while True:
            try:
                await self.agent.handler(events, self.svc)
                return True
            except Exception:
                log.exception("agent batch failed; retrying", extra={"agent": self.agent.name, "events": len(events)})
                if self._stopping.is_set():
                    return False  # uncommitted: the next owner of the partitions redoes it
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 5.0)

    async def _fetch(self) -> tuple[dict, list[dict]] | None:
        """Up to max_records records and their decoded events, ({tp: records}, events), or None
        if nothing came. Taken in slices of FETCH_SLICE records, yielding to the event loop
        between slices: when this runs ahead during a handler, the handler's store calls go out
        as soon as they are ready and this work overlaps the stores' own."""
        limit, batches, events, taken, timeout_ms = self.agent.max_records, {}, [], 0, 200
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
            events.extend(self._decode(records))
            timeout_ms = 0  # then only what the consumer already holds
            await asyncio.sleep(0)
        await self._update_lag()
        if not batches:
            return None
        return batches, events

    async def _run(self) -> None:
        consumer = self._consumer
        ahead: asyncio.Future | None = None
        try:
            while not self._stopping.is_set():
                fetched = await (ahead if ahead is not None else self._fetch())
                ahead = None
                if fetched is None:
                    continue
                batches, events = fetched
                # The next fetch (broker round trip and decoding) runs while this batch's handler
                # waits on its stores. Handlers still run one at a time, in order, and a batch's
                # offsets are committed only after its own handler returned.
                ahead = asyncio.ensure_future(self._fetch())
                if events and not await self._handle(events):
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

    def snapshot(self) -> dict:
        st = self.status
        return {
            "group": st.group,
            "joined": st.joined,
            "partitions": st.partitions,
            "consumed": {self.agent.topic.name: st.consumed},
            "malformed": st.malformed,
            "lag": st.lag,
        }
