"""Real components for the suite: the embedded PostgreSQL, Redis and Tansu broker (or the ones
DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP point at), the API under uvicorn and the stream worker,
each a real process reached over real connections."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from infra.dev import start_stack
from infra.embedded import free_port, pdeathsig_preexec

REPO = Path(__file__).resolve().parent.parent


class Proc:
    """A child process of the test session with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name, self.args, self.env = name, args, env
        self.log = log_dir / f"{name}-{uuid4().hex[:6]}.log"
        self.p: subprocess.Popen | None = None

    def start(self) -> Proc:
        self.p = subprocess.Popen(
            [sys.executable, *self.args],
            env=self.env,
            cwd=REPO,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=pdeathsig_preexec(signal.SIGTERM),
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


async def wait_for(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `check` (sync or async, returning truthy) until it holds; return its value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last
        except (httpx.HTTPError, OSError):
            pass
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


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
        # their own API with small ones (tests/test_auth_ratelimit.py)
        "RATE_LIMIT_REGISTER": "100000/1m",
        "RATE_LIMIT_LOGIN": "100000/1m",
        "RATE_LIMIT_API": "100000/1m",
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


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


def start_api(env: dict, log_dir: Path, **extra) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        "api",
        [
            "-m",
            "uvicorn",
            "api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--ws",
            "websockets",
            "--no-access-log",
        ],
        {**env, **extra, "PORT": str(port)},
        log_dir,
    ).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if not proc.alive:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"API did not start:\n{proc.tail()}")


@pytest.fixture(scope="session")
def api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir)
    yield base
    proc.stop()


class Worker:
    """The stream worker; tests may kill and restart it."""

    def __init__(self, env: dict, log_dir: Path, api_base: str):
        self.env, self.log_dir, self.api_base = env, log_dir, api_base
        self.proc: Proc | None = None

    def start(self, wait_ready: bool = True) -> Proc:
        self.proc = Proc("worker", ["-m", "streams", "worker"], self.env, self.log_dir).start()
        if wait_ready:
            # generous: on a loaded 2-core box a worker importing every agent takes a while
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                r = httpx.get(f"{self.api_base}/health/ready", timeout=5)
                if r.status_code == 200 and self._mine(r.json()):
                    return self.proc
                if not self.proc.alive:
                    break
                time.sleep(0.2)
            raise RuntimeError(f"worker not ready:\n{self.proc.tail()}")
        return self.proc

    def _mine(self, ready: dict) -> bool:
        workers = ready["checks"]["worker"].get("workers", [])
        return any(w.endswith(f":{self.proc.p.pid}") for w in workers)

    def ensure_running(self) -> None:
        if self.proc is None or not self.proc.alive:
            self.start()


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


async def register(client: httpx.AsyncClient, **over) -> dict:
    tag = uuid4().hex[:10]
    body = {"email": f"u{tag}@example.com", "password": "correct horse 1", "username": f"u{tag}", **over}
    r = await client.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    data["headers"] = {"Authorization": f"Bearer {data['access_token']}"}
    data["password"] = body["password"]
    return data


async def create_post(client: httpx.AsyncClient, user: dict, caption: str = "hello") -> str:
    r = await client.post("/posts", json={"caption": caption, "visibility": "public"}, headers=user["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def likes(client: httpx.AsyncClient, user: dict, post_id: str) -> int:
    r = await client.get(f"/posts/{post_id}/counters", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["likes"]
