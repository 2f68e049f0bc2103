"""Mixed traffic on two app instances, with revocations in the middle: nothing revoked
may work after its revocation returned.

    python bench/load_bench.py                  # PostgreSQL + Redis on this machine
    python bench/load_bench.py --seconds 60 --clients 12 \\
        --postgres postgres://postgres@127.0.0.1:5432/mcp_load --redis redis://127.0.0.1:6379/14

Two gunicorn instances (two workers each) share one PostgreSQL database and one Redis,
as production runs them. Client threads on 127.0.0.1 spread logins, refreshes, code
searches, API-key calls and MCP tool calls over both instances. Twice during the run a
revoker logs sessions out and revokes API keys through one instance; from the moment
each revocation returns, probes present the revoked credentials to both instances
until the end. Reports throughput, p50 and p99 per kind of request, errors, and any
revoked credential that was accepted. Bounded in time; everything on loopback.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "load test passphrase 1"
USERS = 6


SETUP = r"""
import json, sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts import services as accounts
from indexing import services
from indexing.models import Repository
users = []
for n in range(int(sys.argv[2])):
    user = accounts.user_create(username=f"load{n}", password=sys.argv[3], role_name="developer")
    users.append(user.username)
repo = Repository.objects.create(name="sample", path=sys.argv[1])
job = services.job_enqueue(repository=repo, run_in_background=False)
services.job_run(job_id=job.pk, requeue=False)
print(json.dumps(users))
"""


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.violations: list[str] = []

    def timed(self, kind: str, session: requests.Session, method: str, url: str, **kwargs):
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=30, **kwargs)
            status = response.status_code
        except requests.RequestException as exc:
            response, status = None, f"no answer ({type(exc).__name__})"
        elapsed = time.perf_counter() - started
        with self.lock:
            self.times[kind].append(elapsed)
            if status != 200:
                self.errors[kind].append(str(status))
        return response


def client(bases, users, keys, recorder: Recorder, stop: threading.Event, seed: int):
    rng = random.Random(seed)  # noqa: S311 - traffic mix, not security
    session = requests.Session()
    base_cycle = itertools.cycle(bases)
    tokens = None
    search_words = ["def ", "return", "import", "class", "self"]
    mcp_call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "search_symbols", "arguments": {"name": "handler"}},
    }
    while not stop.is_set():
        base = next(base_cycle)
        choice = rng.random()
        if tokens is None or choice < 0.08:
            login = {"username": rng.choice(users), "password": PASSWORD}
            response = recorder.timed("login", session, "POST", f"{base}/auth/login", data=login)
            tokens = response.json() if response is not None and response.ok else None
        elif choice < 0.16:
            refresh = {"refresh_token": tokens["refresh_token"]}
            response = recorder.timed(
                "refresh", session, "POST", f"{base}/auth/refresh", data=refresh
            )
            tokens = response.json() if response is not None and response.ok else None
        elif choice < 0.50:
            recorder.timed(
                "search", session, "GET", f"{base}/api/search",
                params={"q": rng.choice(search_words), "limit": 20},
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )  # fmt: skip
        elif choice < 0.75:
            headers = {"Authorization": f"Bearer {rng.choice(keys)}"}
            recorder.timed("api key", session, "GET", f"{base}/auth/me", headers=headers)
        else:
            headers = {
                "Authorization": f"Bearer {rng.choice(keys)}",
                "MCP-Protocol-Version": "2025-11-25",
            }
            recorder.timed("mcp", session, "POST", f"{base}/mcp", json=mcp_call, headers=headers)


def probe(bases, revoked: list[tuple[str, dict, float]], recorder: Recorder, stop):
    """Present every revoked credential to both instances; any success is a violation."""
    session = requests.Session()
    while not stop.is_set():
        for what, request, revoked_at in list(revoked):
            for base in bases:
                started = time.monotonic()
                response = session.request(
                    request["method"], base + request["path"], timeout=30,
                    headers=request.get("headers"), data=request.get("data"))  # fmt: skip
                if response.status_code < 400 and started > revoked_at:
                    recorder.violations.append(
                        f"{what} accepted by {base} {started - revoked_at:.3f}s after revocation"
                    )
        time.sleep(0.05)


def revoke_some(bases, users, revoked: list, revocable: dict[str, tuple[int, str]]):
    """Log two fresh sessions out, and revoke one API key; note when each call returned."""
    base = bases[0]
    session = requests.Session()
    for username in random.sample(users, 2):
        tokens = session.post(
            f"{base}/auth/login", data={"username": username, "password": PASSWORD}, timeout=30
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert session.post(f"{base}/auth/logout", headers=auth, timeout=30).status_code == 204
        returned = time.monotonic()
        revoked.append(
            (
                "a logged-out access token",
                {"method": "GET", "path": "/auth/me", "headers": auth},
                returned,
            )
        )
        revoked.append(
            (
                "a logged-out refresh token",
                {
                    "method": "POST",
                    "path": "/auth/refresh",
                    "data": {"refresh_token": tokens["refresh_token"]},
                },
                returned,
            )
        )
    secret, (key_id, owner_name) = revocable.popitem()
    owner = session.post(
        f"{base}/auth/login", data={"username": owner_name, "password": PASSWORD}, timeout=30
    ).json()
    response = session.delete(
        f"{base}/api/keys/{key_id}",
        headers={"Authorization": f"Bearer {owner['access_token']}"},
        timeout=30,
    )
    assert response.status_code == 204, response.text
    revoked.append(
        (
            "a revoked API key",
            {"method": "GET", "path": "/auth/me", "headers": {"Authorization": f"Bearer {secret}"}},
            time.monotonic(),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/mcp_load")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from index_bench import _recreate_postgres

    _recreate_postgres(args.postgres)
    import redis as redis_client

    redis_client.Redis.from_url(args.redis).flushdb()
    work = Path(tempfile.mkdtemp(prefix="mcp-load-"))
    sample = work / "roots" / "sample"
    import shutil

    import django

    shutil.copytree(Path(django.__path__[0]) / "core" / "handlers", sample)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_"))}
    env.update({
        "DATABASE_URL": args.postgres, "REDIS_URL": args.redis, "MCP_DATA_DIR": str(work),
        "MCP_INDEX_ROOTS": str(sample.parent), "MCP_SEMANTIC_ENABLED": "false",
        "LOG_LEVEL": "ERROR", "DJANGO_SETTINGS_MODULE": "mcpserver.settings",
        # Load from one address: the login throttle is for guessing, not for this.
        "LOGIN_FAILURE_LIMIT": "1000", "MCP_TOOL_CALLS_PER_MINUTE": "0",
        # The probes present revoked keys on purpose; without this the address is locked
        # out after 20 refusals and good keys from it get 429.
        "API_KEY_FAILURE_LIMIT": "1000000",
    })  # fmt: skip
    out = subprocess.run([sys.executable, "-c", SETUP, str(sample), str(USERS), PASSWORD],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    import json

    users = json.loads(out.stdout.strip().splitlines()[-1])
    servers, bases = [], []
    for _ in range(2):
        port = 19000 + len(bases) + os.getpid() % 500
        log = (work / f"server-{port}.log").open("w")
        servers.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mcpserver.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            for _ in range(150):
                try:
                    if requests.get(f"{base}/api/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
        key_ids = {}
        for username in users:
            token = requests.post(
                f"{bases[0]}/auth/login",
                data={"username": username, "password": PASSWORD},
                timeout=30,
            ).json()
            made = requests.post(f"{bases[0]}/api/keys", json={"name": "load", "scopes": ["mcp:search:code"]},
                                 headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=30).json()  # fmt: skip
            key_ids[made["key"]] = (made["id"], username)
        keys = list(key_ids)
        recorder, stop, revoked = Recorder(), threading.Event(), []
        # The first two keys are revoked during the run; clients use the others.
        revocable = {key: key_ids[key] for key in keys[:2]}
        workers = [threading.Thread(target=client, args=(bases, users, keys[2:], recorder, stop, n))
                   for n in range(args.clients)]  # fmt: skip
        workers.append(threading.Thread(target=probe, args=(bases, revoked, recorder, stop)))
        started = time.monotonic()
        for thread in workers:
            thread.start()
        for _ in range(2):
            time.sleep(args.seconds / 3)
            revoke_some(bases, users, revoked, revocable)
        time.sleep(args.seconds / 3)
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    total = sum(len(times) for times in recorder.times.values())
    print(
        f"\n{args.clients} clients, {elapsed:.0f} s, two instances x two gunicorn workers, PostgreSQL + Redis"
    )
    print(f"{'request':<10} {'count':>6} {'per s':>7} {'p50':>8} {'p99':>8} {'errors':>7}")
    for kind, times in sorted(recorder.times.items()):
        ordered = sorted(times)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        print(f"{kind:<10} {len(times):>6} {len(times) / elapsed:>7.1f} {statistics.median(times) * 1000:>6.1f}ms "
              f"{p99 * 1000:>6.1f}ms {len(recorder.errors[kind]):>7}")  # fmt: skip
    print(f"{'all':<10} {total:>6} {total / elapsed:>7.1f}")
    for kind, errors in recorder.errors.items():
        if errors:
            print(f"errors in {kind}: {sorted(set(errors))}")
    print(
        f"revoked credentials probed: {len(revoked)}; accepted after revocation: {len(recorder.violations)}"
    )
    for violation in recorder.violations[:10]:
        print("  VIOLATION:", violation)
    sys.exit(1 if recorder.violations or any(recorder.errors.values()) else 0)


if __name__ == "__main__":
    main()
