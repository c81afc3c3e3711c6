"""Real processes for the suite: the API under uvicorn and the stream worker, each a child of
the test session with its output in a log file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx

from infra.embedded import free_port, pdeathsig_preexec

REPO = Path(__file__).resolve().parents[2]


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
            "--ws-per-message-deflate",  # off, as in production (infra/deploy/entrypoint.sh)
            "false",
            "--no-access-log",
            "--no-proxy-headers",  # the app decides the client IP (api/client_ip.py)
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
