"""The README's first command, as a newcomer runs it, against the real server."""

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from tests.processes import ROOT, free_port, wait_until_healthy


@pytest.fixture
def quickstart_server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_", "MCP_"))}
    # The embedded default: no database or Redis URL, a fresh data directory.
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({"MCP_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "quickstart", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log)
        password = re.search(r"password: (\S+)", log.read_text()).group(1)
        yield base, password
    finally:
        children = _children(process.pid)
        process.terminate()
        process.wait(timeout=20)
        # The worker quickstart started must not outlive it.
        for pid in children:
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"quickstart left process {pid} running")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


def test_readme_walkthrough_on_a_fresh_machine(quickstart_server):
    base, password = quickstart_server
    login = requests.post(
        f"{base}/auth/login", data={"username": "admin", "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    me = requests.get(f"{base}/auth/me", headers=auth, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "admin"

    refreshed = requests.post(
        f"{base}/auth/refresh", data={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 200
    auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}

    assert requests.post(f"{base}/auth/logout", headers=auth, timeout=10).status_code == 204
    after = requests.get(f"{base}/auth/me", headers=auth, timeout=10)
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]

    # The admin site and its assets are served with DEBUG off.
    assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
    assert requests.get(f"{base}/static/admin/css/base.css", timeout=10).status_code == 200
