"""`scripts/test.sh` stopped by SIGTERM (as `timeout` does) or SIGINT (Ctrl-C) stops
the PostgreSQL server its tests started instead of leaving it running."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.postgres import PostgresServer, find_bindir

ROOT = Path(__file__).resolve().parent.parent
HOLD = "SESSIONTRAIL_TEST_HOLD_POSTGRES"
"""The file where the held test writes its server's data directory."""


@pytest.mark.skipif(HOLD not in os.environ, reason="run by the test below")
def test_hold_postgresql_until_stopped(postgres_server: PostgresServer) -> None:
    Path(os.environ[HOLD]).write_text(str(postgres_server.data))
    signal.pause()  # until the signal the test below sends


def stop_leftover(data: Path) -> None:
    """Stop a server the run left behind, so this test leaks nothing itself."""
    account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    subprocess.run(
        [str(find_bindir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
        capture_output=True,
        check=False,
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stopping_the_test_command_stops_its_postgresql(
    tmp_path: Path, signum: signal.Signals
) -> None:
    marker = tmp_path / "data-directory"
    run = subprocess.Popen(
        [str(ROOT / "scripts" / "test.sh"), f"{__file__}::{HOLD_TEST}", "-q"],
        env={**os.environ, HOLD: str(marker)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert run.poll() is None, run.communicate()[0].decode()
        assert time.monotonic() < deadline, "the held test never started its server"
        time.sleep(0.05)
    data = Path(marker.read_text())
    assert (data / "postmaster.pid").exists()
    run.send_signal(signum)
    output = run.communicate(timeout=60)[0].decode()
    left_running = (data / "postmaster.pid").exists()
    if left_running:
        stop_leftover(data)
    assert not left_running, output


HOLD_TEST = test_hold_postgresql_until_stopped.__name__
