"""quickstart on a taken port, and the worker it starts never outliving it.

The bug: on a port already in use, quickstart printed its welcome, started the db_worker,
then runserver said "Error: That port is already in use." and left through os._exit,
which skips quickstart's finally: the worker ran on, orphaned. Any exit that runs no
finally (SIGKILL, a crash) did the same.

Real processes throughout: quickstart on the embedded default (SQLite in a fresh data
directory), a real listening socket holding the port. The processes a run started are
found through /proc by the data directory in their environment, unique to each test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port, wait_until_healthy

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="finds processes through /proc"
)


def quickstart_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "JWT_", "MCP_", "DATABASE_", "REDIS_", "CACHE_"))
    }
    env.update({"MCP_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    return env


def processes_of(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every live process started with this data directory."""
    marker = f"MCP_DATA_DIR={data_dir}\0".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker not in environ.read():
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, not yet reaped by its parent
        except OSError:
            continue  # gone meanwhile
        found[int(entry)] = command
    return found


def workers_of(data_dir: Path) -> dict[int, str]:
    return {pid: cmd for pid, cmd in processes_of(data_dir).items() if "db_worker" in cmd}


def assert_all_gone(data_dir: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (left := processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        for pid in left:  # do not leave them to the next test
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"quickstart left processes running: {left}")


def hold(port: int) -> socket.socket:
    """Another server on the port: bound and listening."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def start_quickstart(data_dir: Path, port: int) -> tuple[subprocess.Popen, Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=quickstart_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log


def run_quickstart(tmp_path: Path, data_dir: Path, addrport: str) -> subprocess.CompletedProcess:
    """quickstart to its end. Its output goes to files, not pipes: a worker it left behind
    would hold pipes open, and the test would wait for it rather than fail."""
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", addrport],
            cwd=ROOT,
            env=quickstart_env(data_dir),
            stdout=out,
            stderr=err,
        )
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    return subprocess.CompletedProcess(
        process.args, process.returncode, stdout.read_text(), stderr.read_text()
    )


def test_a_taken_port_is_refused_before_anything_is_started(tmp_path):
    data_dir = tmp_path / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if port == 65535:
        pytest.skip("needs a port with a next one")
    with hold(port):
        result = run_quickstart(tmp_path, data_dir, f"127.0.0.1:{port}")
    assert_all_gone(data_dir, timeout=0)
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    # It says how to pick another port, with the command to type.
    assert f"python manage.py quickstart 127.0.0.1:{port + 1}" in result.stderr
    # Nothing welcomes the user to a server that is not there.
    assert "First things to try" not in result.stdout
    assert "admin" not in result.stdout


def test_a_malformed_address_is_refused_before_anything_is_started(tmp_path):
    data_dir = tmp_path / "data"
    result = run_quickstart(tmp_path, data_dir, "127.0.0.1:port")
    assert result.returncode != 0
    assert "e.g. 127.0.0.1:8001" in result.stderr
    assert "First things to try" not in result.stdout
    assert_all_gone(data_dir, timeout=0)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_worker_stops_when_quickstart_is_killed(tmp_path, how):
    data_dir = tmp_path / "data"
    port = free_port()
    process, log = start_quickstart(data_dir, port)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 30
        while not workers_of(data_dir):
            assert time.monotonic() < deadline, "no worker started:\n" + log.read_text()
            time.sleep(0.1)
        process.send_signal(how)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    # SIGKILL runs no finally: the worker sees its pipe from quickstart close, and stops.
    assert_all_gone(data_dir)


def test_the_worker_stops_when_runserver_fails_to_bind(tmp_path):
    """The port was free when quickstart checked it and is taken when runserver binds: the
    error path that leaves through os._exit(1). The test takes the port as soon as the
    worker exists, in the moment before runserver binds (it still loads the application);
    should runserver win that race, the test tries again on another port."""
    for attempt in range(5):
        data_dir = tmp_path / f"data-{attempt}"
        port = free_port()
        process, log = start_quickstart(data_dir, port)
        holder = None
        try:
            deadline = time.monotonic() + 90
            while not workers_of(data_dir):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("no worker started:\n" + log.read_text())
                time.sleep(0.01)
            try:
                holder = hold(port)
            except OSError:
                continue  # runserver bound first: try again
            assert process.wait(timeout=60) == 1
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            if holder is not None:
                holder.close()
        if holder is None:
            assert_all_gone(data_dir)
            continue
        assert "That port is already in use." in log.read_text()
        assert_all_gone(data_dir)
        return
    pytest.skip("runserver always bound before the test could take the port")
