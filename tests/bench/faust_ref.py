"""Faust reference (run as its own process by tests.bench.run): one Faust agent iterating the
reactions topic message by message (the per-message path), with the same in-memory aggregation
as the baseline, in a fresh group. Writes {events, seconds, rate} as JSON to RESULT_PATH once it
has seen N events or after SECONDS, then idles until the parent stops it.

    python -m tests.bench.faust_ref APP_ID N SECONDS RESULT_PATH
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict

import orjson
import uvloop

from infra.settings import get_settings


def main() -> None:
    app_id, n, limit, result_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    settings = get_settings()
    if settings.kafka_flavor == "tansu":
        from streams import compat

        compat.apply()
    uvloop.install()
    import faust

    from models.core.topics import REACTIONS

    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        web_enabled=False,
        value_serializer="raw",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="faust-"),
        topic_partitions=settings.kafka_partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_heartbeat_ms / 1000,
    )
    topic = app.topic(REACTIONS.name, value_serializer="raw", key_serializer="raw")
    edges: dict[tuple, tuple[str, bool]] = {}
    deltas: dict[tuple, int] = defaultdict(int)
    state = {"count": 0, "first": None, "done": False}

    @app.agent(topic)
    async def aggregate(stream):
        async for value in stream:
            ev = orjson.loads(value)
            p = ev["payload"]
            edge, eid = (p["post_id"], p["user_id"], p["type"]), ev["id"]
            active = ev["type"] == "reaction.added"
            cur = edges.get(edge)
            if cur is None or eid > cur[0]:
                was = cur[1] if cur else False
                edges[edge] = (eid, active)
                if active != was:
                    deltas[(edge[0], edge[2])] += 1 if active else -1
            state["count"] += 1
            now = time.perf_counter()
            if state["first"] is None:
                state["first"] = now
            if not state["done"] and (state["count"] >= n or now - state["first"] >= limit):
                state["done"] = True
                secs = now - state["first"]
                with open(result_path + ".tmp", "wb") as f:
                    f.write(
                        orjson.dumps(
                            {
                                "events": state["count"],
                                "seconds": secs,
                                "rate": (state["count"] - 1) / secs if secs else 0.0,
                            }
                        )
                    )
                os.replace(result_path + ".tmp", result_path)

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
