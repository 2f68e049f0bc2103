"""Faults in the middle of traffic, against the real server: Redis stops and comes back,
PostgreSQL restarts. (A worker killed in the middle of a job: tests/indexing/test_worker_killed.py.)

Authenticated requests must fail closed while Redis is down (503, never a 200 that
skipped the revocation check, never a 500), health must say so, and service must
come back by itself when Redis does. A PostgreSQL restart must cost a few 503s at
most, and the server must reconnect without a restart."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection, connections

from tests.factories import PASSWORD, UserFactory, api_key_for
from tests.processes import RedisServer, process_env, start_gunicorn


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def start_server(tmp_path, **env):
    return start_gunicorn(tmp_path, process_env(**env))


class Traffic:
    """Clients calling an authenticated endpoint in a loop, recording (time, status)."""

    def __init__(self, url: str, headers_list: list[dict]):
        self.url, self.headers_list = url, headers_list
        self.results: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(h,)) for h in headers_list]

    def _run(self, headers) -> None:
        session = requests.Session()
        client = self.headers_list.index(headers)
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                status = session.get(self.url, headers=headers, timeout=10).status_code
            except requests.RequestException:
                status = -1  # no answer at all
            self.results.append((sent, status, client))
            time.sleep(0.02)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def between(self, start: float, end: float, client: int | None = None) -> list[int]:
        return [
            status
            for sent, status, who in list(self.results)
            if start <= sent <= end and client in (None, who)
        ]

    def statuses(self) -> set[int]:
        return {status for _sent, status, _who in self.results}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_redis_stopping_fails_closed_and_service_recovers_by_itself(private_redis, tmp_path):
    user = UserFactory(role__name="viewer", with_password=True)
    key = api_key_for(user)
    server = None
    try:
        base, server = start_server(
            tmp_path, REDIS_URL=private_redis.url, CACHE_KEY_PREFIX="faults"
        )

        def login() -> dict:
            response = requests.post(
                f"{base}/auth/login",
                data={"username": user.username, "password": PASSWORD},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            return response.json()

        access = login()["access_token"]
        logged_out = login()["access_token"]
        bye = requests.post(
            f"{base}/auth/logout", headers={"Authorization": f"Bearer {logged_out}"}, timeout=10
        )
        assert bye.status_code == 204
        clients = [{"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {access}"}]
        with Traffic(f"{base}/auth/me", clients) as traffic:
            time.sleep(1.5)
            before_stop = time.monotonic()
            private_redis.stop()
            wait_for(lambda: requests.get(f"{base}/api/health", timeout=5).status_code == 503,
                     10, "health to report the outage")  # fmt: skip
            health = requests.get(f"{base}/api/health", timeout=5).json()
            assert health["cache"] == "unavailable" and health["database"] == "ok"
            down_from = time.monotonic()
            time.sleep(2)
            down_until = time.monotonic()
            refused = requests.get(f"{base}/auth/me", headers=clients[0], timeout=10)
            assert refused.status_code == 503 and refused.headers["Retry-After"]
            private_redis.start()  # empty: what it held is gone
            wait_for(lambda: requests.get(f"{base}/api/health", timeout=5).status_code == 200,
                     20, "health to recover")  # fmt: skip
            recovered_at = time.monotonic()
            time.sleep(2)
        # Requests sent in the last moment before the kill may still be answered 503.
        assert set(traffic.between(0, before_stop - 0.5)) == {200}
        assert set(traffic.between(down_from, down_until)) == {503}  # closed: no 200, no 500
        # Back by itself: the API key at once. The access token predates the empty store,
        # which cannot vouch for it any more: refused, until the client refreshes.
        assert set(traffic.between(recovered_at + 0.5, time.monotonic(), client=0)) == {200}
        assert set(traffic.between(recovered_at + 0.5, time.monotonic(), client=1)) == {401}
        assert traffic.statuses() <= {200, 401, 503}, traffic.statuses()
        # The token logged out before the outage did not come back with the empty store.
        again = requests.get(
            f"{base}/auth/me", headers={"Authorization": f"Bearer {logged_out}"}, timeout=10
        )
        assert again.status_code == 401
        fresh = login()["access_token"]
        me = requests.get(
            f"{base}/auth/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=10
        )
        assert me.status_code == 200
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def restartable_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("runs when the suite runs on PostgreSQL")
    clusters = Path("/etc/postgresql")
    if not clusters.is_dir() or not any(clusters.iterdir()):
        pytest.skip("needs a local Debian PostgreSQL cluster (pg_ctlcluster)")
    version = str(connection.pg_version // 10000)  # the cluster this suite runs on
    if not (clusters / version / "main").is_dir():
        pytest.skip(f"no Debian cluster {version}/main to restart")
    pg_ctlcluster = shutil.which("pg_ctlcluster")
    if pg_ctlcluster is None:
        pytest.skip("needs pg_ctlcluster")
    command = [pg_ctlcluster, "--skip-systemctl-redirect", version, "main"]

    def restart() -> None:
        subprocess.run([*command, "restart", "-m", "fast"], check=True, timeout=60)

    try:
        yield restart
    finally:
        subprocess.run([*command, "start"], check=False, timeout=60)  # whatever happened
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_restart_costs_a_few_503s_and_heals(restartable_postgres, tmp_path):
    user = UserFactory(role__name="viewer")
    key = api_key_for(user)
    server = None
    try:
        base, server = start_server(tmp_path)
        clients = [{"Authorization": f"Bearer {key}"}] * 2

        def healthy_lately() -> bool:
            recent = traffic.between(time.monotonic() - 0.5, time.monotonic())
            return bool(recent) and set(recent) == {200}

        with Traffic(f"{base}/api/repositories", clients) as traffic:
            time.sleep(1.5)
            before = time.monotonic()
            restartable_postgres()
            connections.close_all()  # this test process's own connection died too
            wait_for(healthy_lately, 30, "requests to succeed again")
            healed = time.monotonic()
            time.sleep(1.5)
        assert set(traffic.between(0, before - 0.5)) == {200}
        assert 503 in traffic.between(before, healed)  # the outage was seen, as a 503
        assert set(traffic.between(healed, time.monotonic())) == {200}
        assert traffic.statuses() <= {200, 503}, traffic.statuses()  # never a 500
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
