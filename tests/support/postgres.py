"""A throwaway PostgreSQL server: own data dir, unix socket, unprivileged user.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
system user (created by Debian's package). Nothing listens on TCP.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

SUPERUSER = "sessiontrail"
DATABASE = "sessiontrail_tests"


class PostgresUnavailable(RuntimeError):
    """The server could not be found or started; the message says how to fix it."""


def find_bindir() -> Path:
    """PostgreSQL's bin directory: $SESSIONTRAIL_PG_BINDIR, Debian's, or pg_config's."""
    explicit = os.environ.get("SESSIONTRAIL_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        candidates.append(result.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found; install them "
        "(apt-get install -y postgresql) or set SESSIONTRAIL_PG_BINDIR"
    )


class PostgresServer:
    """Start with `start()`, stop with `stop()`; `url(schema)` gives a connect URL."""

    def __init__(self, *, durable: bool = False, root: Path | None = None) -> None:
        """`durable`: fsync on, as an operator runs it (benchmarks); the tests run
        without it: faster, and a crash of the machine loses nothing they need.
        `root`: where the cluster lives (a benchmark keeping it); else a new
        temporary directory."""
        self.durable = durable
        self.bindir = find_bindir()
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="sessiontrail-pg-"))
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self._account = self._unprivileged_account()

    def _unprivileged_account(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root, but there is no 'postgres' user to run the "
                "server as (apt-get install -y postgresql creates it)"
            ) from None

    def _run(self, *args: str) -> None:
        kwargs: dict[str, object] = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            **kwargs,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{args[0]} failed ({result.returncode}): {result.stderr}{log}"
            )

    def start(self) -> None:
        """Create the cluster, start it and create the test database."""
        self.socket_dir.mkdir()
        if self._account is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.resume()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def resume(self) -> None:
        """Start the server on its existing data directory."""
        fsync = "on" if self.durable else "off"
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync={fsync} "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self) -> None:
        """Stop the server (fast shutdown: clients are cut off), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """Stop the server and remove its files. The removal runs on in a
        process of its own: a session's server holds a schema per test, some
        hundred thousand files, and the last test of each worker would wait
        the 20 seconds their removal takes."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        subprocess.Popen(
            ["rm", "-rf", "--", str(self.root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def dsn(self, database: str = DATABASE) -> str:
        return f"host={self.socket_dir} user={SUPERUSER} dbname={database}"

    def new_schema(self) -> str:
        """A fresh, empty schema: each test gets a database of its own, cheaply."""
        schema = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return schema

    def url(self, schema: str) -> str:
        return (
            f"postgresql://{SUPERUSER}@/{DATABASE}"
            f"?host={self.socket_dir}&schema={schema}"
        )


def count_statements(server: PostgresServer) -> None:
    """Restart the started `server` with pg_stat_statements loaded, counting each
    statement's plans as well as its runs, and without autovacuum (its ANALYZE
    of a new table has every plan on it made again)."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        conn.execute("ALTER SYSTEM SET autovacuum = off")
    server.halt()
    server.resume()
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        conn.execute("SELECT pg_reload_conf()")


def append_statement(server: PostgresServer, trail: Any) -> str:
    """The name `trail`'s appends run their guarded INSERT under (as EXECUTE of
    a prepared statement): how a backend appending to its log is told apart in
    pg_stat_activity."""
    from sessiontrail.infrastructure.backends.postgres_prepared import statement_name

    with psycopg.connect(server.dsn()) as conn:
        return statement_name(trail.store.recorder._append.as_string(conn))


@contextmanager
def running(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit (also when start fails)."""
    server = PostgresServer(durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.stop()
