"""`make run`: the development supervisor (`python -m infra.dev run`).

Starts the embedded PostgreSQL / Redis / Kafka (Tansu) for every component not configured by
environment, runs migrations, then the API and the stream worker; Ctrl-C (or SIGTERM) stops
everything in order. State lives in var/ (or $VAR_DIR) and survives restarts, except the
Tansu broker, which keeps its topics in memory.

DEV_API_CMD / DEV_WORKER_CMD / DEV_MIGRATE_CMD replace the child commands (shlex syntax;
an empty DEV_MIGRATE_CMD skips migrations). DEV_PREFERRED_PORTS=0 gives the embedded services
free ports instead of their usual ones (55432, 56379, 59092): a second stack next to a
developer's `make run` (tests/abuse/conftest.py).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from infra.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedTansu,
    ServiceError,
    can_bind,
    free_port,
    pdeathsig_preexec,
    tcp_open,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE = 8.0  # seconds the API and worker get after SIGTERM
READY_LINE = "Press Ctrl-C to stop everything."


def _unset(env: Mapping[str, str], *names: str) -> bool:
    return not any(env.get(n) for n in names)


def start_stack(
    var_dir: Path,
    env: Mapping[str, str],
    *,
    preferred_ports: bool = True,
) -> tuple[dict[str, str], Callable[[], None]]:
    """Start the embedded services that `env` does not configure, with their state in var_dir.

    Returns the variables to add to the environment and an idempotent function that stops
    what was started (Tansu, Redis, PostgreSQL, in that order). Call it from the main thread
    (see infra.embedded about PR_SET_PDEATHSIG).
    """
    var_dir = Path(var_dir).absolute()
    var_dir.mkdir(parents=True, exist_ok=True)
    port = free_port if preferred_ports else (lambda _preferred: free_port())
    started: list = []
    add: dict[str, str] = {}

    def stop() -> None:
        while started:
            started.pop().stop()

    try:
        if _unset(env, "DATABASE_URL", "DB_HOST"):
            pg = EmbeddedPostgres(var_dir / "postgres", port(55432))
            started.append(pg)
            pg.start()
            add["DATABASE_URL"] = pg.url
        if _unset(env, "REDIS_URL", "REDIS_HOST"):
            redis = EmbeddedRedis(var_dir / "redis", port(56379))
            started.append(redis)
            redis.start()
            add["REDIS_URL"] = redis.url
        if _unset(env, "KAFKA_BOOTSTRAP"):
            tansu = EmbeddedTansu(port(59092), log_path=var_dir / "tansu.log")
            started.append(tansu)
            tansu.start()
            add["KAFKA_BOOTSTRAP"] = tansu.bootstrap
            add["KAFKA_FLAVOR"] = "tansu"
            # Tansu holds each JoinGroup for about half the session timeout: keep it short.
            for key, value in (("KAFKA_SESSION_TIMEOUT_MS", "6000"), ("KAFKA_HEARTBEAT_MS", "1000")):
                if _unset(env, key):
                    add[key] = value
    except BaseException:
        stop()
        raise
    if _unset(env, "QDRANT_URL", "QDRANT_PATH"):
        add["QDRANT_PATH"] = str(var_dir / "qdrant")
    if _unset(env, "S3_ENDPOINT", "CLOUDFLARE_R2_ENDPOINT", "MEDIA_DIR"):
        add["MEDIA_DIR"] = str(var_dir / "media")
    for key in ("QDRANT_PATH", "MEDIA_DIR"):
        if key in add:
            Path(add[key]).mkdir(parents=True, exist_ok=True)
    return add, stop


# ---------------------------------------------------------------- supervisor


class _Stop(Exception):
    pass


def _raise_stop(signum, _frame):
    raise _Stop(signum)


def _still_stopping(_signum, _frame):
    print("daira: already stopping, please wait", file=sys.stderr, flush=True)


def _lock(var_dir: Path) -> int:
    fd = os.open(var_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        sys.exit(
            f"daira: another `make run` (pid {holder}) is using {var_dir}; stop it first, "
            "or set VAR_DIR to use another directory"
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # informative only: the flock is what counts
    return fd


def _jwt_secret(var_dir: Path) -> str:
    path = var_dir / "jwt_secret"
    if path.exists() and (secret := path.read_text().strip()):
        return secret
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _command(env: Mapping[str, str], var: str, default: list[str]) -> list[str]:
    return shlex.split(env[var]) if var in env else default


def _spawn(cmd: list[str], env: Mapping[str, str]) -> subprocess.Popen:
    # Own session: terminal Ctrl-C goes to the supervisor only, which stops children in order.
    return subprocess.Popen(
        cmd,
        env=dict(env),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=pdeathsig_preexec(signal.SIGTERM),
    )


def _terminate(procs: dict[str, subprocess.Popen], grace: float) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for name, p in procs.items():
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"daira: {name} did not stop within {grace:.0f}s; killing it", flush=True)
        # SIGKILL whatever is left in its session (e.g. an ffmpeg the worker started).
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def _summary(env: Mapping[str, str], add: Mapping[str, str], var_dir: Path, port: int) -> str:
    def store(key: str, embedded: str) -> str:
        url = re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", env[key])  # hide passwords
        return f"{url}   ({embedded if key in add else 'from environment'})"

    base = f"http://127.0.0.1:{port}"
    media = env.get("S3_ENDPOINT") or env.get("CLOUDFLARE_R2_ENDPOINT")
    rows = [
        ("API", f"{base}/   (health: {base}/health/ready)"),
        ("GraphQL", f"{base}/graphql"),
        ("API docs", f"{base}/docs"),
        ("WebSocket", f"ws://127.0.0.1:{port}/ws"),
        ("PostgreSQL", store("DATABASE_URL", f"embedded, {var_dir / 'postgres'}")),
        ("Redis", store("REDIS_URL", f"embedded, {var_dir / 'redis'}")),
        ("Kafka", store("KAFKA_BOOTSTRAP", "embedded Tansu, in memory: topics start empty each run")),
        ("Qdrant", env.get("QDRANT_URL") or f"{env.get('QDRANT_PATH')}   (local, owned by the worker)"),
        ("Media", media or f"{env.get('MEDIA_DIR')}   (local files)"),
        ("Var dir", f"{var_dir}   (logs: postgres/postgres.log, redis/redis.log, tansu.log)"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", "daira development stack is up:"]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines + [READY_LINE, ""])


def run() -> int:
    var_dir = Path(os.environ.get("VAR_DIR") or REPO_ROOT / "var").absolute()
    var_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(var_dir)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["VAR_DIR"] = str(var_dir)
    if not env.get("APP_ENV") and not env.get("NODE_ENV"):
        env["APP_ENV"] = "development"  # unset means production (infra/settings.py)
    if not env.get("JWT_SECRET"):
        env["JWT_SECRET"] = _jwt_secret(var_dir)
    port = int(env.get("PORT") or 3000)
    env["PORT"] = str(port)

    children: dict[str, subprocess.Popen] = {}

    def stop_stack() -> None:
        pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    try:
        if "DEV_API_CMD" not in env and not can_bind(port, "0.0.0.0"):
            print(f"daira: port {port} is in use; set PORT to another one", file=sys.stderr)
            return 1
        print(f"daira: starting the development stack in {var_dir} ...", flush=True)
        add, stop_stack = start_stack(var_dir, env, preferred_ports=env.get("DEV_PREFERRED_PORTS", "1") != "0")
        env.update(add)
        # Jobs started next to this stack (`make admin`, `make renew`, ...) read where it is.
        stack_env = var_dir / "stack.env"
        stack_env.write_text(json.dumps(add))

        migrate = _command(env, "DEV_MIGRATE_CMD", [sys.executable, "-m", "infra.migrate"])
        if migrate:
            print("daira: running migrations ...", flush=True)
            children["migrations"] = _spawn(migrate, env)
            rc = children["migrations"].wait()
            del children["migrations"]
            if rc != 0:
                print(f"daira: migrations failed (exit code {rc}); stopping", file=sys.stderr)
                return 1

        children["api"] = _spawn(
            _command(
                env,
                "DEV_API_CMD",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "api.asgi:app",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    str(port),
                    "--loop",
                    "uvloop",
                    "--ws",
                    "websockets",
                    "--ws-per-message-deflate",  # off: see infra/deploy/entrypoint.sh
                    "false",
                    "--no-access-log",
                    "--no-proxy-headers",  # the app decides the client IP (api/client_ip.py)
                ],
            ),
            env,
        )
        children["worker"] = _spawn(_command(env, "DEV_WORKER_CMD", [sys.executable, "-m", "streams", "worker"]), env)
        print(_summary(env, add, var_dir, port), flush=True)

        api_up = False
        while True:
            for name, p in children.items():
                if p.poll() is not None:
                    print(
                        f"daira: the {name} exited unexpectedly (exit code {p.returncode}); stopping everything",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            if not api_up and tcp_open(port):
                api_up = True
                print(f"daira: API is listening on http://127.0.0.1:{port}", flush=True)
            time.sleep(0.25)
    except ServiceError as e:
        print(f"daira: {e}", file=sys.stderr, flush=True)
        return 1
    except _Stop as stop:
        print(f"\ndaira: {signal.Signals(stop.args[0]).name} received; stopping ...", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _still_stopping)
        t = time.monotonic()
        _terminate(children, STOP_GRACE)
        (var_dir / "stack.env").unlink(missing_ok=True)
        stop_stack()
        os.ftruncate(lock_fd, 0)
        os.close(lock_fd)
        print(f"daira: stopped in {time.monotonic() - t:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dev", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole development stack; Ctrl-C stops it")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
