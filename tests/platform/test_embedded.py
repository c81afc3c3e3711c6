"""The embedded development stack (infra.embedded, infra.dev) with real processes."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from infra.dev import READY_LINE
from infra.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedTansu, free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")


def run_async(coro):
    # In a thread of its own, so it can't disturb the event loop pytest-asyncio keeps.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if not gone(p)]
        if not left:
            return []
        time.sleep(0.05)
    return left


def procs_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if text in " ".join(p.info["cmdline"] or ()) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.fixture
def reaper(tmp_path):
    """Kills, at teardown, registered pids and anything whose command line names tmp_path."""
    pids: list[int] = []
    yield pids
    for p in pids:
        if not gone(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs_mentioning(str(tmp_path)):
        p.kill()


def test_free_port():
    port = free_port()
    assert free_port(port) == port
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        other = free_port(port)
    assert other != port and other > 0


async def _kafka_round_trip(bootstrap: str) -> bytes:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("roundtrip", num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("roundtrip", b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition("roundtrip", 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        msg = await asyncio.wait_for(consumer.getone(), 10)
        return msg.value
    finally:
        await consumer.stop()


async def _pg_query(url: str, sql: str):
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def test_services_answer_and_stop(tmp_path, reaper):
    import redis

    pg = EmbeddedPostgres(tmp_path / "pg", free_port())
    rd = EmbeddedRedis(tmp_path / "redis", free_port())
    kf = EmbeddedTansu(free_port(), log_path=tmp_path / "tansu.log")
    with ExitStack() as stack:
        for svc in (pg, rd, kf):
            stack.callback(svc.stop)
            svc.start()
            reaper.append(svc.pid)
        pids = [pg.pid, rd.pid, kf.pid]

        assert pg.url.endswith("/daira")
        rows = run_async(_pg_query(pg.url, "SELECT current_database() AS db, 6 * 7 AS n"))
        assert (rows[0]["db"], rows[0]["n"]) == ("daira", 42)

        client = redis.Redis.from_url(rd.url)
        assert client.ping() is True
        client.set("k", "v")
        client.close()

        assert run_async(_kafka_round_trip(kf.bootstrap)) == b"hello"

    assert wait_gone(pids) == []
    assert pg.pid is rd.pid is kf.pid is None
    for svc in (pg, rd, kf):
        svc.stop()  # a second stop is harmless
    EmbeddedRedis(tmp_path / "never", free_port()).stop()
    assert (tmp_path / "redis" / "dump.rdb").exists()  # saved on SIGTERM


def test_postgres_keeps_data_and_survives_stale_pidfile(tmp_path, reaper):
    # A path too long for a Unix socket next to it: the socket goes to a folder under /tmp.
    pg = EmbeddedPostgres(tmp_path / ("long-" * 20) / "pg", free_port(), database="keep")
    sock_dir = pg._socket_dir()
    assert not str(sock_dir).startswith(str(tmp_path))
    try:
        pg.start()
        pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)", database="keep")
        pg.stop()
        pg.start()
        assert pg.psql("SELECT sum(x) FROM t", database="keep") == "3"

        # A SIGKILLed postmaster leaves postmaster.pid behind; make its pid belong to a live
        # process of the same OS user, the case PostgreSQL itself refuses.
        old = pg.pid
        os.kill(old, signal.SIGKILL)
        assert wait_gone([old]) == []
        pidfile = pg.pgdata / "postmaster.pid"
        assert pidfile.exists()
        squatter = subprocess.Popen(["sleep", "30"], user="embedded_postgres" if os.geteuid() == 0 else None)
        reaper.append(squatter.pid)
        lines = pidfile.read_text().split("\n")
        pidfile.write_text("\n".join([str(squatter.pid)] + lines[1:]))

        pg.start()
        assert pg.psql("SELECT sum(x) FROM t", database="keep") == "3"
        squatter.kill()
        squatter.wait()
    finally:
        pg.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


PDEATH_SCRIPT = """
import sys, time
from pathlib import Path
from infra.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedTansu, free_port
base = Path(sys.argv[1])
svcs = [EmbeddedRedis(base / "redis", free_port()), EmbeddedPostgres(base / "pg", free_port()),
        EmbeddedTansu(free_port(), log_path=base / "tansu.log")]
for s in svcs:
    s.start()
print(*[s.pid for s in svcs], flush=True)
time.sleep(60)
"""


def test_services_die_with_a_killed_parent(tmp_path, reaper):
    parent = subprocess.Popen(
        [sys.executable, "-c", PDEATH_SCRIPT, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    reaper.append(parent.pid)
    try:
        line = parent.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, line
        reaper.extend(pids)
        assert not any(gone(p) for p in pids)
        parent.kill()  # SIGKILL: no Python cleanup runs
        parent.wait()
        assert wait_gone(pids, timeout=5) == []
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


class DevRun:
    """`python -m infra.dev run` as a child, its output collected by a thread."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.dev", "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} not seen; output:\n{''.join(self.output)}")

    def tree(self) -> list[int]:
        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]


def dev_env(var: Path) -> dict:
    sleeper = f'{sys.executable} -c "import time; time.sleep(600)" {var}'
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "KAFKA_BOOTSTRAP",
            "KAFKA_FLAVOR",
            "QDRANT_URL",
            "QDRANT_PATH",
            "S3_ENDPOINT",
            "CLOUDFLARE_R2_ENDPOINT",
            "MEDIA_DIR",
            "JWT_SECRET",
        }
    }
    env.update(
        VAR_DIR=str(var),
        PORT=str(free_port()),
        DEV_API_CMD=sleeper,
        DEV_WORKER_CMD=sleeper,
        DEV_MIGRATE_CMD=f'{sys.executable} -c "import os, sys; sys.exit(0 if all(os.environ.get(k) '
        f"for k in ('DATABASE_URL', 'REDIS_URL', 'KAFKA_BOOTSTRAP', 'JWT_SECRET', "
        f"'QDRANT_PATH', 'MEDIA_DIR')) else 3)\"",
    )
    return env


def test_dev_run_end_to_end(tmp_path, reaper):
    var = tmp_path / "var"
    env = dev_env(var)
    runs: list[DevRun] = []
    try:
        first = DevRun(env)
        runs.append(first)
        reaper.append(first.proc.pid)
        first.wait_for(READY_LINE)
        children = first.tree()
        reaper.extend(children)
        assert len(children) >= 5  # postgres (+ its backends), redis, tansu, api, worker
        secret = (var / "jwt_secret").read_text()
        assert (var / "jwt_secret").stat().st_mode & 0o777 == 0o600

        # A second supervisor on the same var dir refuses at once.
        second = subprocess.run(
            [sys.executable, "-m", "infra.dev", "run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=20
        )
        assert second.returncode != 0 and "another `make run`" in second.stderr

        t = time.monotonic()
        first.proc.send_signal(signal.SIGINT)
        assert first.proc.wait(20) == 0
        assert time.monotonic() - t < 20
        assert wait_gone(children, timeout=3) == []
        assert procs_mentioning(str(var)) == []

        # The lock is free again and the data (and the JWT secret) are kept.
        again = DevRun(env)
        runs.append(again)
        reaper.append(again.proc.pid)
        again.wait_for(READY_LINE)
        reaper.extend(again.tree())
        assert (var / "jwt_secret").read_text() == secret
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(20) == 0
        assert procs_mentioning(str(var)) == []
    finally:
        for run in runs:
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGINT)
                try:
                    run.proc.wait(20)
                except subprocess.TimeoutExpired:
                    run.proc.kill()
                    run.proc.wait()


def test_dev_run_stops_everything_when_a_child_dies(tmp_path, reaper):
    var = tmp_path / "var"
    env = dev_env(var)
    env["DEV_WORKER_CMD"] = f'{sys.executable} -c "import time; time.sleep(0.5); raise SystemExit(3)"'
    run = DevRun(env)
    reaper.append(run.proc.pid)
    try:
        run.wait_for(READY_LINE)
        reaper.extend(run.tree())
        run.wait_for("worker exited unexpectedly (exit code 3)")
        assert run.proc.wait(20) == 1
        assert procs_mentioning(str(var)) == []
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
