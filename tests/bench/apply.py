"""Consumer-side figures on one topic: the real counters agent (BatchRunner + PostgreSQL store +
Redis publish, in this process) and a plain aiokafka baseline doing the same aggregation in
memory, each in a fresh consumer group reading the same N events from the start."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter, defaultdict

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata

from models.content.reactions import ADDED


class _Timer:
    def __init__(self):
        self.seconds, self.calls = 0.0, 0

    def wrap(self, fn):
        async def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        return timed


async def run_agent(settings, n: int, timeout: float = 180.0) -> dict:
    """Consume and apply `n` events with the counters agent; time from partition assignment to
    the commit that covers the n-th event."""
    import streams.agents.counters  # noqa: F401  (registers the agent)
    from infra.services import Services
    from streams.batch import REGISTRY, BatchRunner

    svc = await Services.start(settings, relay=False)
    handler_t, store_t = _Timer(), _Timer()
    agent = REGISTRY["counters"]
    svc.store.apply_reactions = store_t.wrap(svc.store.apply_reactions)
    runner = BatchRunner(dataclasses.replace(agent, handler=handler_t.wrap(agent.handler)), svc, settings)
    try:
        await runner.start()
        t_join = await _until(lambda: runner.status.joined, 60, "counters agent joined")
        cpu0 = time.process_time()
        await _until(lambda: runner.status.consumed >= n, timeout, f"counters agent applied {n}")
        t_end, cpu = time.perf_counter(), time.process_time() - cpu0
    finally:
        await runner.stop()
        await svc.stop()
    secs = t_end - t_join
    return {
        "events": runner.status.consumed,
        "seconds": secs,
        "rate": runner.status.consumed / secs,
        "batches": handler_t.calls,
        "handler_s": handler_t.seconds,
        "store_s": store_t.seconds,
        "max_records": agent.max_records,
        "malformed": runner.status.malformed,
        "cpu_share": cpu / secs,
    }


async def _until(check, timeout: float, what: str) -> float:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)
    return time.perf_counter()


class _Assigned(ConsumerRebalanceListener):
    def __init__(self):
        self.at: float | None = None

    async def on_partitions_revoked(self, revoked):
        pass

    async def on_partitions_assigned(self, assigned):
        self.at = self.at or time.perf_counter()


async def run_baseline(
    settings, topic: str, n: int, group: str, max_records: int = 500, timeout: float = 120.0
) -> dict:
    """Plain aiokafka: getmany -> orjson -> newest event per edge and per-post deltas in dicts ->
    commit per batch; no store writes."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )
    listener = _Assigned()
    consumer.subscribe([topic], listener=listener)
    await consumer.start()
    edges: dict[tuple, tuple[str, bool]] = {}
    deltas: dict[tuple, int] = defaultdict(int)
    count, batches = 0, 0
    deadline = time.perf_counter() + timeout
    try:
        while count < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"baseline consumed {count} of {n}")
            fetched = await consumer.getmany(timeout_ms=200, max_records=max_records)
            if not fetched:
                continue
            for recs in fetched.values():
                for r in recs:
                    ev = orjson.loads(r.value)
                    p = ev["payload"]
                    edge, eid, active = (p["post_id"], p["user_id"], p["type"]), ev["id"], ev["type"] == ADDED
                    cur = edges.get(edge)
                    if cur is None or eid > cur[0]:  # canonical UUIDv7 text sorts like the ids
                        was = cur[1] if cur else False
                        edges[edge] = (eid, active)
                        if active != was:
                            deltas[(edge[0], edge[2])] += 1 if active else -1
                count += len(recs)
            await consumer.commit({tp: OffsetAndMetadata(recs[-1].offset + 1, "") for tp, recs in fetched.items()})
            batches += 1
        t_end = time.perf_counter()
    finally:
        await consumer.stop()
    secs = t_end - listener.at
    return {
        "events": count,
        "seconds": secs,
        "rate": count / secs,
        "batches": batches,
        "counters": Counter({k: v for k, v in deltas.items() if v}),
    }


async def verify_store(database_url: str, expected: Counter) -> dict:
    """Counters vs edges in PostgreSQL, and both vs the workload's known end state."""
    conn = await asyncpg.connect(database_url)
    try:
        counter_sum = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM post_counters")
        active = await conn.fetchval("SELECT count(*) FROM reaction_edges WHERE active")
        rows = await conn.fetch("SELECT post_id::text, kind, count FROM post_counters WHERE count <> 0")
    finally:
        await conn.close()
    stored = Counter({(r[0], r[1]): r[2] for r in rows})
    return {
        "counter_sum": int(counter_sum),
        "active_edges": int(active),
        "expected_active": sum(expected.values()),
        "exact": stored == expected and counter_sum == active,
    }


async def skip_backlog(settings, topic: str, groups: list[str]) -> int:
    """Commits each group's offsets at the topic's end, so the worker of section 5 starts as a
    worker in steady state would be, not catching up on sections 2-4's synthetic events (that
    backlog kept its other agents busy and put their catching up into the latency). Returns
    how many events were skipped per group."""
    from aiokafka.structs import TopicPartition

    from streams import compat

    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        ends = await probe.end_offsets(tps)
    finally:
        await probe.stop()
    if settings.kafka_flavor == "tansu":  # its ListOffsets is short of the log end (streams/compat.py)
        ends = await compat.fetch_high_watermarks(settings.kafka_bootstrap, ends)
    for group in groups:
        c = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            c.assign(tps)
            await c.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
        finally:
            await c.stop()
    return sum(ends.values())
