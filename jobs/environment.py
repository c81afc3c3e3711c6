"""Where a batch job finds the stores: the configured ones, else those of `make run`.

`infra.dev run` writes the addresses of the embedded stack it started to VAR_DIR/stack.env
(removed when it stops). A job started next to it (`make admin`, `make renew`, `make
reconcile`, `make seed`) reads them; with no `make run` up, a job that needs only PostgreSQL
starts the embedded one of VAR_DIR for its own run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra import logs
from infra.embedded import EmbeddedPostgres, ServiceError, free_port
from infra.settings import Settings, get_settings

STACK_FILE = "stack.env"


def stack_file(var_dir: str | Path) -> Path:
    return Path(var_dir).absolute() / STACK_FILE


def running_stack(settings: Settings) -> dict[str, str]:
    """The addresses a running `make run` wrote to VAR_DIR/stack.env ({} when none is up)."""
    running = stack_file(settings.var_dir)
    return json.loads(running.read_text()) if running.exists() else {}


@contextmanager
def database_url(settings: Settings):
    """DATABASE_URL, or the embedded PostgreSQL of VAR_DIR (started here if it is not running)."""
    if settings.database_url:
        yield settings.database_url
        return
    pg_dir = Path(settings.var_dir).absolute() / "postgres"
    pid_file = pg_dir / "pgdata" / "postmaster.pid"
    if pid_file.exists():  # `make run` is up: its line 4 is the port
        yield f"postgresql://postgres@127.0.0.1:{pid_file.read_text().splitlines()[3].strip()}/daira"
        return
    if not (pg_dir / "pgdata" / "PG_VERSION").exists():
        raise ServiceError(f"no database: set DATABASE_URL, or start `make run` once to create {pg_dir}")
    pg = EmbeddedPostgres(pg_dir, free_port())
    try:
        pg.start()
        yield pg.url
    finally:
        pg.stop()


@contextmanager
def job_settings(service: str = "jobs") -> Iterator[Settings]:
    """Settings with DATABASE_URL (and, when `make run` is up, REDIS_URL and KAFKA_BOOTSTRAP)
    filled in. Raises ServiceError when there is no database to reach."""
    settings = get_settings()
    logs.setup(settings.log_level, service=service)
    if not settings.database_url:
        for key, value in running_stack(settings).items():
            os.environ.setdefault(key, value)
        get_settings.cache_clear()
        settings = get_settings()
    with database_url(settings) as url:
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        yield get_settings()


def kafka_bootstrap(settings: Settings) -> str:
    """KAFKA_BOOTSTRAP, else the broker of a running `make run` (its VAR_DIR/stack.env). Raises
    ServiceError when there is neither: a job never starts a broker of its own (the embedded one
    keeps its topics in memory, so a fresh one would be empty)."""
    bootstrap = settings.kafka_bootstrap or running_stack(settings).get("KAFKA_BOOTSTRAP", "")
    if not bootstrap:
        raise ServiceError(
            f"no broker: set KAFKA_BOOTSTRAP, or start `make run` (it writes {stack_file(settings.var_dir)})"
        )
    return bootstrap


def run_job(name: str, work: Callable[[Settings], Awaitable[Any]], report: Callable[[Any], str]) -> int:
    """A job's whole main: its stores found as job_settings finds them, one run, one line of
    report; exit status 2 with the reason when there is no database to reach."""
    try:
        with job_settings() as settings:
            t0 = time.monotonic()
            result = asyncio.run(work(settings))
    except ServiceError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    print(f"{name}: {report(result)} in {time.monotonic() - t0:.2f}s")
    return 0
