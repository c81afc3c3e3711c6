"""Real components for the suite: the embedded PostgreSQL, Redis and Tansu broker (or the ones
DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP point at), the API under uvicorn and the stream worker,
each a real process reached over real connections.

Only the fixtures live here; the helpers they and the tests use are in tests/support/."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from infra.dev import start_stack
from tests.support.processes import REPO, Worker, start_api

# Unset means production, which refuses the default JWT_SECRET (infra/settings.py): the suite says test.
os.environ.setdefault("APP_ENV", "test")


@pytest.fixture(scope="session")
def stack_env() -> dict:
    # Not under pytest's basetemp: a second pytest run on the machine resets that tree's
    # permissions, and the embedded PostgreSQL (its own OS user when we are root) then dies.
    var = Path(tempfile.mkdtemp(prefix="daira-test-var-"))
    add, stop = start_stack(var, os.environ, preferred_ports=False)
    env = {
        **os.environ,
        **add,
        "APP_ENV": "test",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "JWT_SECRET": secrets.token_urlsafe(40),
        # isolates this run's consumer groups from any other user of the same broker
        "CONSUMER_GROUP_PREFIX": f"test{uuid4().hex[:8]}",
        "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("KAFKA_SESSION_TIMEOUT_MS", "6000"),
        "KAFKA_HEARTBEAT_MS": os.environ.get("KAFKA_HEARTBEAT_MS", "1000"),
        "VAR_DIR": str(var),
        # the suite registers and logs in many users from one IP; tests of the limits start
        # their own API with small ones (tests/core/test_auth_ratelimit.py)
        "RATE_LIMIT_REGISTER": "100000/1m",
        "RATE_LIMIT_LOGIN": "100000/1m",
        "RATE_LIMIT_API": "100000/1m",
        "RATE_LIMIT_WRITE": "100000/1m",
        "RATE_LIMIT_ANONYMOUS": "100000/1m",
        # The worker embeds search queries on a 2-core machine shared by several test runs, where
        # one takes 0.5-1 s (300 ms in production settings): the hybrid tests need its answer.
        "SEARCH_SEMANTIC_TIMEOUT": os.environ.get("SEARCH_SEMANTIC_TIMEOUT", "3000"),
        # X-SQL-Statements on every answer: pages of posts cost a constant number (tests/content/test_post_view.py)
        "COUNT_SQL_STATEMENTS": "1",
    }
    subprocess.run([sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    # In-process tests (agents fed without a broker, stores) read the same settings.
    saved = dict(os.environ)
    os.environ.update(env)
    from infra.settings import get_settings

    get_settings.cache_clear()
    yield env
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    stop()
    shutil.rmtree(var, ignore_errors=True)


@pytest_asyncio.fixture
async def svc(stack_env):
    """In-process services (PostgreSQL, Redis, the engagement store, a producer) for tests that
    call domain functions or feed agents directly; the outbox relay is left to the API."""
    from infra.services import Services
    from infra.settings import get_settings

    s = await Services.start(get_settings(), relay=False)
    yield s
    await s.stop()


@pytest_asyncio.fixture
async def db(stack_env):
    """A plain asyncpg connection to the suite's PostgreSQL."""
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    yield conn
    await conn.close()


@pytest_asyncio.fixture
async def redis(stack_env):
    """A client of the suite's Redis."""
    r = aioredis.from_url(stack_env["REDIS_URL"])
    yield r
    await r.aclose()


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir)
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def api2(stack_env, log_dir):
    """A second API process on the same stack with default settings (sockets on two replicas)."""
    proc, base = start_api(stack_env, log_dir)
    yield base
    proc.stop()


@pytest.fixture(scope="session")
def worker_mgr(stack_env, log_dir, api):
    mgr = Worker(stack_env, log_dir, api)
    mgr.start()
    yield mgr
    if mgr.proc:
        mgr.proc.stop()


@pytest.fixture
def worker(worker_mgr):
    worker_mgr.ensure_running()
    return worker_mgr


@pytest_asyncio.fixture
async def client(api):
    async with httpx.AsyncClient(base_url=api, timeout=15) as c:
        yield c
