"""The stream worker: a Faust app hosting Faust agents and batch agents (streams/batch.py).

Every module in streams/agents/ is imported when the app is created (`create_app`, called by
`python -m streams worker`), so an agent is one file there. Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib
import logging
import os
import pkgutil
import socket
from pathlib import Path

import faust
from mode import Service

from infra import heartbeat, logs
from infra.services import Services
from infra.settings import Settings
from streams import agents as agents_pkg
from streams.batch import REGISTRY, BatchRunner

log = logging.getLogger(__name__)


def selected(name: str, spec: str) -> bool:
    """Whether WORKER_AGENTS (`spec`) selects the agent `name`: the last matching pattern wins."""
    chosen = False
    for pattern in (p.strip() for p in spec.split(",") if p.strip()):
        exclude = pattern.startswith("-")
        if fnmatch.fnmatchcase(name, pattern.lstrip("-")):
            chosen = not exclude
    return chosen


def import_agents() -> list:
    """Import every module of streams/agents/: batch agents register themselves (REGISTRY)."""
    return [
        importlib.import_module(f"{agents_pkg.__name__}.{mod.name}")
        for mod in pkgutil.iter_modules(agents_pkg.__path__)
    ]


def discover(app: faust.App, settings: Settings) -> None:
    """Import every agent module; a module with Faust agents, tables or timers defines
    `setup(app, settings)` to add them to the app (selected by its module name)."""
    for module in import_agents():
        name = module.__name__.rsplit(".", 1)[-1]
        if callable(setup := getattr(module, "setup", None)) and selected(name, settings.worker_agents):
            setup(app, settings)


async def warm_up(agents, settings: Settings) -> None:
    """Each agent's warm-up, once, off the event loop. One that fails is logged: its handler
    then meets the same failure on its own batches and reports it there."""
    for warm in dict.fromkeys(a.warmup for a in agents if a.warmup):
        try:
            await asyncio.to_thread(warm, settings)
        except Exception as exc:
            log.warning("agent warm-up failed", extra={"error": repr(exc)})


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.consumer_group_prefix}-worker",
        broker=f"kafka://{settings.kafka_bootstrap}",
        web_enabled=False,
        datadir=str(Path(settings.var_dir) / "faust"),
        value_serializer="raw",
        store="memory://",
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_heartbeat_ms / 1000,
        producer_acks=-1,
        logging_config=logs.dict_config(settings.log_level, service="worker"),
    )

    @app.service
    class BatchAgents(Service):
        """Runs the batch agents and the heartbeat next to Faust's own agents."""

        def __post_init__(self) -> None:
            self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
            self.svc: Services | None = None
            self.runners: list[BatchRunner] = []

        async def on_start(self) -> None:
            self.svc = await Services.start(settings)
            self.runners = [
                BatchRunner(a, self.svc, settings)
                for a in REGISTRY.values()
                if selected(a.name, settings.worker_agents)
            ]
            await warm_up([r.agent for r in self.runners], settings)
            # Each group join takes a few seconds on the broker; twenty-odd agents join at once.
            await asyncio.gather(*(r.start() for r in self.runners))
            log.info("batch agents started", extra={"agents": [r.agent.name for r in self.runners]})

        @Service.task
        async def _heartbeat(self) -> None:
            while not self.should_stop:
                try:
                    await heartbeat.publish(
                        self.svc.redis, self.worker_id, {"agents": {r.agent.name: r.snapshot() for r in self.runners}}
                    )
                except Exception as exc:
                    log.warning("heartbeat failed", extra={"error": repr(exc)})
                await self.sleep(1.0)

        async def on_stop(self) -> None:
            await asyncio.gather(*(r.stop() for r in self.runners), return_exceptions=True)
            if self.svc:
                try:
                    await heartbeat.remove(self.svc.redis, self.worker_id)
                except Exception:
                    pass
                await self.svc.stop()

    discover(app, settings)
    return app
