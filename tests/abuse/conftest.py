"""The black-box abuse suite: the whole system started as `make run` starts it (`python -m
infra.dev run`, its embedded defaults and real rate limits), played against over HTTP only.

The stack is its own: a temporary VAR_DIR, a free API port and free ports for the embedded
services (DEV_PREFERRED_PORTS=0), so it collides neither with the regular test stack nor with a
developer's `make run`. Nothing of the pytest session's environment that points at another
stack is passed on. Each attacker or victim talks from its own loopback address
(`client_from`), as different people would, so the real per-IP limits apply to each alone."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from infra.embedded import can_bind, free_port
from tests.support.processes import REPO

READY_TIMEOUT = 300  # the worker loads the ML models; a loaded 2-core box is slow
STOP_TIMEOUT = 60
# Where the session's environment may point at another stack (tests/conftest.py sets these).
_NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP",
    "KAFKA_FLAVOR",
    "QDRANT_URL",
    "QDRANT_PATH",
    "MEDIA_DIR",
    "S3_ENDPOINT",
    "CLOUDFLARE_R2_ENDPOINT",
    "VAR_DIR",
    "PORT",
    "JWT_SECRET",
    "CONSUMER_GROUP_PREFIX",
    "SCYLLA_HOSTS",
)
_PRISTINE_ENV = dict(os.environ)  # read at import, before any fixture changed os.environ
_addresses = (f"127.1.{i}.{j}" for i, j in itertools.product(range(250), range(2, 250)))


class System:
    """A running `make run` stack: its API base URL, the supervisor's log and its var dir."""

    def __init__(self, base: str, log: Path, var: Path, started_in: float):
        self.base, self.log, self.var, self.started_in = base, log, var, started_in

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def _env(var: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in _PRISTINE_ENV.items() if k not in _NOT_INHERITED and not k.startswith("RATE_LIMIT_")}
    env.update(
        {
            "APP_ENV": "development",  # as `make run`
            "VAR_DIR": str(var),
            "PORT": str(port),
            "DEV_PREFERRED_PORTS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stack_ports(var: Path) -> list[int]:
    try:
        add = json.loads((var / "stack.env").read_text())
    except (OSError, ValueError):
        return []
    ports = []
    for key in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP"):
        tail = add.get(key, "").rsplit(":", 1)[-1].split("/", 1)[0]
        if tail.isdigit():
            ports.append(int(tail))
    return ports


@pytest.fixture(scope="session")
def system():
    var = Path(tempfile.mkdtemp(prefix="daira-abuse-var-"))
    port = free_port()
    log = var / "make-run.log"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.dev", "run"],
        env=_env(var, port),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: a stray child is found and reported below
    )
    system = System(f"http://127.0.0.1:{port}", log, var, 0.0)
    ports = [port]
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"`make run` exited ({proc.returncode}):\n{system.tail()}")
            try:
                if httpx.get(f"{system.base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`make run` not ready after {READY_TIMEOUT}s:\n{system.tail()}")
            time.sleep(0.5)
        system.started_in = time.monotonic() - started
        print(f"\nabuse suite: `make run` ready in {system.started_in:.1f}s at {system.base}")
        ports += _stack_ports(var)
        yield system
    finally:
        _stop(proc, system)
    leftovers = [p for p in ports if not _freed(p)]
    shutil.rmtree(var, ignore_errors=True)
    assert not leftovers, f"ports still held after `make run` stopped: {leftovers}"


def _stop(proc: subprocess.Popen, system: System) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the supervisor stops the API, the worker, then the stack
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"`make run` did not stop within {STOP_TIMEOUT}s:\n{system.tail()}") from None


def _freed(port: int, wait: float = 10) -> bool:
    deadline = time.monotonic() + wait
    while not can_bind(port, "0.0.0.0"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest_asyncio.fixture
async def client_from(system):
    """A factory of HTTP clients of the system, each from a fresh loopback address (or `ip`)."""
    clients: list[httpx.AsyncClient] = []

    def make(ip: str | None = None) -> httpx.AsyncClient:
        ip = ip or next(_addresses)
        c = httpx.AsyncClient(base_url=system.base, timeout=20, transport=httpx.AsyncHTTPTransport(local_address=ip))
        c.ip = ip  # type: ignore[attr-defined]
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()
