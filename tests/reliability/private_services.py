"""Private Redis and PostgreSQL servers that outage tests really kill and restart, and real Celery workers.

The servers on 6379 and 5432 are shared by every test run on the machine, so outage tests never stop them: they
start their own on free loopback ports (Redis with the shared one's settings: no persistence), kill and start
them again mid-work, and remove them afterwards. `Workers` starts `celery worker` processes, each in its own
process group so that a SIGKILL takes a prefork pool's children with it. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from celery import current_app

from tests.workers import ROOT, wait_until

POSTGRES_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateRedis:
    """`redis-server` on a free port, without persistence: a kill loses every queued message, as on 6379."""

    workdir: Path
    port: int = field(default_factory=free_port)
    restarts: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                   "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]  # fmt: skip
        self._process = subprocess.Popen(command)
        wait_until(self.answers, seconds=30)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def messages_held(self, queue: str) -> int:
        """Messages waiting in `queue` plus those delivered but not yet acknowledged (kombu's `unacked` hash)."""
        client = redis.Redis(port=self.port, socket_timeout=5)
        return int(client.llen(queue)) + int(client.hlen("unacked"))

    def kill(self) -> None:
        """SIGKILL: the server dies with every message it held."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, down_for: float) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()
        self.restarts += 1


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb into a temporary directory), run as the `postgres` OS user."""

    port: int = field(default_factory=free_port)
    restarts: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fb-private-pg-")))

    def __post_init__(self) -> None:
        if not POSTGRES_BINARIES:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = POSTGRES_BINARIES[-1].parent
        if os.geteuid() == 0:  # initdb refuses root
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash, recovered at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str, down_for: float) -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def broker_of_this_process(url: str) -> Iterator[None]:
    """Send this test process's Celery messages (the sweeper's, the services') to `url`, then back.

    The write URL, because Celery reads the broker URL from the CELERY_BROKER_URL variable before its settings.
    """
    previous = current_app.conf.get("broker_write_url")

    def point_at(broker: str | None) -> None:
        current_app.conf.update(broker_write_url=broker)
        current_app._after_fork()  # type: ignore[attr-defined]  # forgets its cached connection and producer pools

    point_at(url)
    try:
        yield
    finally:
        point_at(previous)


@dataclass
class Workers:
    """Real `celery worker` processes with this environment (database, broker, queue); all stopped at the end.

    Workers run `tests.reliability.worker`, which is `celery worker` with the connectors' HTTP timeout shortened.
    Each one's output goes to its own file under `log_dir`.
    """

    env: dict[str, str]
    log_dir: Path
    kills: int = 0
    revived: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _commands: list[list[str]] = field(default_factory=list)
    _started: int = 0

    def start(self, count: int = 1, *, pool: str = "solo", concurrency: int = 1) -> None:
        command = [sys.executable, "-m", "tests.reliability.worker", f"--pool={pool}",
                   f"--concurrency={concurrency}", "--without-heartbeat", "--without-mingle", "--without-gossip",
                   "--loglevel=WARNING"]  # fmt: skip
        for _ in range(count):
            self._launch(command)

    def _launch(self, command: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._started += 1
        with (self.log_dir / f"worker-{self._started}.log").open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        self._commands.append(command)

    def revive(self) -> int:
        """Start again every worker that exited by itself, as the deployment's restart policy does."""
        exited = [index for index, process in enumerate(self.processes) if process.poll() is not None]
        for index in reversed(exited):
            self.processes.pop(index)
            self._launch(self._commands.pop(index))
        self.revived += len(exited)
        return len(exited)

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("worker-*.log")))

    def kill_and_restart(self) -> None:
        """SIGKILL every worker process and its pool children, in the middle of whatever they do; start them again."""
        commands = list(self._commands)
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                self.kills += 1
        self.processes.clear()
        self._commands.clear()
        for command in commands:
            self._launch(command)

    def stop_all(self) -> None:
        """A warm shutdown of each worker, then SIGKILL for whatever of its process group is left."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
        self._commands.clear()
