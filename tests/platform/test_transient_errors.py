"""Which handler errors are an outage (retried for as long as it lasts, never dead-lettered) and
which are a bad event (dead-lettered after AGENT_MAX_ATTEMPTS): streams/batch.py `transient`.

ScyllaDB cannot run here, so its driver's errors are built as the driver raises them; the runner
test drives a real TopicRunner's retry loop without a broker (nothing is dead-lettered, so
nothing is produced)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from cassandra import (
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    WriteFailure,
    WriteTimeout,
    WriteType,
)
from cassandra import Unavailable as CqlUnavailable
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from infra.settings import Settings
from models.core.events import Event, received
from models.core.topics import REACTIONS
from models.engagement.cql import CasContention
from streams.batch import BatchAgent, TopicRunner, transient

CQL_OUTAGES = [
    NoHostAvailable("Unable to connect to any servers", {"10.0.0.5:9042": ConnectionRefusedError(111, "refused")}),
    OperationTimedOut("errors={'10.0.0.5:9042': 'Client request timeout'}", "10.0.0.5:9042"),
    CqlUnavailable("Cannot achieve consistency level QUORUM", ConsistencyLevel.QUORUM, 2, 1),
    ReadTimeout("Operation timed out - received only 1 responses.", consistency=ConsistencyLevel.QUORUM),
    WriteTimeout(
        "Operation timed out - received only 0 responses.",
        consistency=ConsistencyLevel.QUORUM,
        write_type=WriteType.SIMPLE,
        required_responses=2,
        received_responses=0,
    ),
    ConnectionShutdown("Connection to 10.0.0.5:9042 was closed"),
]


@pytest.mark.parametrize("exc", CQL_OUTAGES, ids=lambda e: type(e).__name__)
def test_scylla_driver_outage_errors_are_transient(exc):
    assert transient(exc)
    try:  # as the store re-raises them: the cause chain is followed
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("apply_reactions failed") from inner
    except RuntimeError as outer:
        assert transient(outer)


def test_other_outages_stay_transient_and_bad_events_do_not():
    pg_down = OperationalError("INSERT ...", {}, ConnectionRefusedError(111, "refused"))
    pg_down.connection_invalidated = True
    assert transient(pg_down) and transient(RedisConnectionError("Connection refused"))
    # an error in the event or the code, not in the cluster's availability
    for exc in (
        InvalidRequest("Invalid STRING constant"),
        WriteFailure(
            "Operation failed - received 0 responses and 1 failures",
            consistency=ConsistencyLevel.ONE,
            write_type=WriteType.SIMPLE,
            failures=1,
        ),
        CasContention("edge x: compare-and-set lost 8 times"),
        ValueError("bad"),
    ):
        assert not transient(exc), exc


async def test_a_batch_failing_with_no_host_available_is_retried_past_max_attempts_and_never_dead_lettered():
    settings = Settings(AGENT_MAX_ATTEMPTS=2, AGENT_RETRY_BACKOFF=0.01, AGENT_RETRY_BACKOFF_MAX=0.02)
    calls: list[int] = []

    async def handler(events, svc) -> None:
        calls.append(len(events))
        if len(calls) <= 5:  # ScyllaDB down for longer than AGENT_MAX_ATTEMPTS tries
            raise NoHostAvailable("Unable to connect to any servers", {})

    agent = BatchAgent(f"transient_{uuid4().hex[:6]}", REACTIONS, handler)
    runner = TopicRunner(agent, REACTIONS, None, settings)  # svc None: a dead letter would fail loudly
    event = received(
        Event("reaction.added", {"post_id": str(uuid4()), "user_id": str(uuid4()), "type": "like"}, actor=None)
    )
    assert await runner._handle([event, event], [object(), object()])  # done: applied, not dead-lettered
    assert calls == [2] * 6 and runner.status.dead_letters == 0
