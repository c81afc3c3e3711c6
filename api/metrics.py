"""Prometheus exposition: this API process's metrics, the stream workers' figures, which
arrive through their Redis heartbeat, and the outbox backlog, read from PostgreSQL at scrape time."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from quart import Quart, request

from infra import heartbeat
from infra.metrics import HTTP_LATENCY, HTTP_REQUESTS
from models.core import outbox


def instrument(app: Quart) -> None:
    @app.before_request
    async def _start():
        request._t0 = time.perf_counter()

    @app.after_request
    async def _observe(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, rule, str(response.status_code)).inc()
        t0 = getattr(request, "_t0", None)
        if t0 is not None:
            HTTP_LATENCY.labels(request.method, rule).observe(time.perf_counter() - t0)
        return response


class _WorkerFigures:
    def __init__(self, workers: dict[str, dict]):
        self.workers = workers

    def collect(self):
        consumed = CounterMetricFamily(
            "events_consumed", "Events applied by stream agents", labels=["worker", "agent", "topic"]
        )
        lag = GaugeMetricFamily(
            "agent_lag_events",
            "Log end offset minus committed position",
            labels=["worker", "agent", "topic", "partition"],
        )
        dead = CounterMetricFamily(
            "daira_dead_letters",
            "Events a batch agent could not apply and wrote to <topic>.dlq (make dlq-replay)",
            labels=["worker", "agent", "topic"],
        )
        oldest = GaugeMetricFamily(
            "daira_dead_letter_oldest_seconds",
            "Age of the oldest dead letter the agent wrote and has not applied since (a replay); 0: none",
            labels=["worker", "agent", "topic"],
        )
        now = time.time()
        up = GaugeMetricFamily(
            "worker_agent_joined", "1 if the agent's consumer joined its group", labels=["worker", "agent"]
        )
        for wid, st in self.workers.items():
            for name, agent in st.get("agents", {}).items():
                up.add_metric([wid, name], 1.0 if agent.get("joined") else 0.0)
                for topic, n in agent.get("consumed", {}).items():
                    consumed.add_metric([wid, name, topic], n)
                for topic, n in agent.get("dead_letters", {}).items():
                    dead.add_metric([wid, name, topic], n)
                for topic, at in agent.get("oldest_dead_letter_at", {}).items():
                    oldest.add_metric([wid, name, topic], max(0.0, now - at) if at else 0.0)
                for tp, n in agent.get("lag", {}).items():
                    topic, _, part = tp.rpartition(":")
                    lag.add_metric([wid, name, topic, part], n)
        yield from (consumed, dead, oldest, lag, up)


class _OutboxFigures:
    def __init__(self, backlog: outbox.Backlog):
        self.backlog = backlog

    def collect(self):
        set_aside = GaugeMetricFamily(
            "daira_outbox_set_aside",
            "Outbox rows the broker refused OUTBOX_MAX_ATTEMPTS times, set aside until `make outbox-retry`",
        )
        set_aside.add_metric([], self.backlog.set_aside)
        oldest = GaugeMetricFamily(
            "daira_outbox_oldest_pending_seconds", "Age of the oldest outbox row not yet published (0: none)"
        )
        oldest.add_metric([], self.backlog.oldest_pending_seconds)
        yield from (set_aside, oldest)


async def render(svc) -> bytes:
    reg = CollectorRegistry(auto_describe=False)
    try:
        reg.register(_WorkerFigures(await heartbeat.live_workers(svc.redis, svc.settings.worker_heartbeat_ttl)))
    except Exception:  # Redis down: still expose this process's own metrics
        pass
    try:
        async with svc.sessions() as session:
            reg.register(_OutboxFigures(await asyncio.wait_for(outbox.backlog(session), 2.0)))
    except Exception:  # PostgreSQL down or slow: the rest of the scrape still answers
        pass
    return generate_latest(REGISTRY) + generate_latest(reg)
