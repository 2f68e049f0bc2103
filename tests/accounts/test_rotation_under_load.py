"""Rotate the signing key while clients keep calling a real server with two
worker processes: no request fails, every process signs with the new key
within 10 seconds, and tokens with the new kid are accepted everywhere at once."""

import subprocess
import sys
import threading
import time

import jwt
import pytest
import requests
from django.db import connections

from accounts import signing
from accounts.models import SigningKey
from tests.factories import SIGNING_KID, UserFactory, login_tokens
from tests.processes import ROOT, free_port, process_env, wait_until_healthy


@pytest.fixture
def two_worker_server(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "mcpserver.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=process_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_no_request_fails_during_a_rotation_under_load(two_worker_server):
    base = two_worker_server
    user = UserFactory(role__name="viewer")
    failures, issued = [], []  # issued: (received_at, kid)
    stop = threading.Event()

    def client():
        tokens = login_tokens(user)
        connections.close_all()  # this thread's database connection is done
        session = requests.Session()
        calls = 0
        while not stop.is_set():
            response = session.get(
                f"{base}/auth/me",
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                timeout=30,
            )
            if response.status_code != 200:
                failures.append(("me", response.status_code, response.text[:200]))
            calls += 1
            if calls % 4 == 0:
                response = session.post(
                    f"{base}/auth/refresh",
                    json={"refresh_token": tokens["refresh_token"]},
                    timeout=30,
                )
                if response.status_code != 200:
                    failures.append(("refresh", response.status_code, response.text[:200]))
                    continue
                tokens = response.json()
                issued.append(
                    (time.monotonic(), jwt.get_unverified_header(tokens["access_token"])["kid"])
                )

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        rotation_started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "rotate_signing_key", "--algorithm", "ES256"],
            cwd=ROOT,
            env=process_env(),
            check=True,
            capture_output=True,
            timeout=60,
        )
        rotated_at = time.monotonic()
        # A token with the new kid, straight away: both workers must accept it
        # at once, including one that has not reloaded its keys yet.
        signing.key_ring.clear()
        fresh = login_tokens(user)["access_token"]
        assert jwt.get_unverified_header(fresh)["kid"] != SIGNING_KID
        for _ in range(20):
            response = requests.get(
                f"{base}/auth/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=30
            )
            if response.status_code != 200:
                failures.append(("new kid", response.status_code, response.text[:200]))
        time.sleep(max(0, rotated_at + 12 - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    new_kid = SigningKey.objects.get(state="active").kid
    assert new_kid != SIGNING_KID
    assert failures == []
    before = [kid for at, kid in issued if at < rotation_started]
    late = [kid for at, kid in issued if at > rotated_at + 10]
    assert before and set(before) == {SIGNING_KID}
    assert late and set(late) == {new_kid}, "every process signs with the new key within 10 s"
    assert len(issued) > 20
