"""Search latency while a repository is being indexed, with and without the call budget.

    python bench/search_during_indexing_bench.py [--rounds 2]

On the embedded default (SQLite) every write takes the database's one write lock, and
the per-caller call budget (MCP_TOOL_CALLS_PER_MINUTE, accounts.throttling) counts each
REST search with a write to the shared cache, which is a table in that database. This
times GET /api/search over HTTP (gunicorn, two workers, a token) while
`manage.py index_repository` indexes a copy of the installed Django package in another
process, once with the budget on (a limit nobody reaches, so only its cost shows) and
once off (MCP_TOOL_CALLS_PER_MINUTE=0), alternating, each on a fresh database.

It first times the count alone, in-process (accounts.throttling.call_budget_take, 2,000
calls): on the database cache, and on Redis with --redis (that Redis database is flushed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from serving import start_gunicorn

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["request", "def __init__", "get_or_create", "return self"]

SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from accounts import services
user = services.user_create(username="bench", password=None, role_name="developer")
print(services.session_start(user=user, requested_scopes=None, client_ip=None)
      .as_response()["access_token"])
"""


COUNT_COST = """
import time, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from accounts import throttling

class Caller:
    pk = 1

times = []
for _ in range(2000):
    started = time.perf_counter()
    throttling.call_budget_take(principal=Caller())
    times.append(time.perf_counter() - started)
times.sort()
print(f"{times[1000] * 1000:.3f} {times[1900] * 1000:.3f}")
"""


def count_cost(work: Path, extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({"DJANGO_SETTINGS_MODULE": "mcpserver.settings", "LOG_LEVEL": "WARNING",
                "MCP_DATA_DIR": str(work / "count-cost"), "MCP_TOOL_CALLS_PER_MINUTE": "1000000000",
                **extra})  # fmt: skip
    p50, p95 = subprocess.run(
        [sys.executable, "-c", COUNT_COST], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    return f"p50 {p50} ms, p95 {p95} ms"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def one_round(label: str, budget: str, tree: Path, work: Path, port: int) -> dict:
    data = work / f"data-{label}"
    shutil.rmtree(data, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({
        "DJANGO_SETTINGS_MODULE": "mcpserver.settings", "MCP_DATA_DIR": str(data),
        "MCP_INDEX_ROOTS": str(tree.parent), "MCP_SEMANTIC_ENABLED": "false",
        "MCP_SEARCH_CACHE_SECONDS": "0", "MCP_TOOL_CALLS_PER_MINUTE": budget,
        "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    token = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    server, base = start_gunicorn(env, port)
    try:
        times: list[float] = []
        statuses: dict[int, int] = {}
        indexing_done = threading.Event()

        def searcher():
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            n = 0
            while not indexing_done.is_set():
                started = time.perf_counter()
                response = session.get(f"{base}/api/search",
                                       params={"q": QUERIES[n % len(QUERIES)]}, timeout=60)  # fmt: skip
                times.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                n += 1

        threads = [threading.Thread(target=searcher) for _ in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        subprocess.run(
            [sys.executable, "manage.py", "index_repository", str(tree), "--name", "django"],
            env=env, cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        indexing = time.perf_counter() - started
        indexing_done.set()
        for thread in threads:
            thread.join()
        return {"times": times, "statuses": statuses, "indexing": indexing}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis", help="also time the count alone on this Redis (flushed)")
    args = parser.parse_args()
    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-contention-bench-"))
    tree = work / "roots" / "django"
    shutil.copytree(django.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    port = 19000 + os.getpid() % 1000
    results: dict[str, dict] = {}
    costs = {"database cache (SQLite)": count_cost(work, {})}
    if args.redis:
        import redis

        redis.Redis.from_url(args.redis).flushdb()
        costs["Redis"] = count_cost(work, {"REDIS_URL": args.redis})
    try:
        for _ in range(args.rounds):
            for label, budget in (("budget on", "1000000000"), ("budget off", "0")):
                got = one_round(label.replace(" ", "-"), budget, tree, work, port)
                entry = results.setdefault(label, {"times": [], "statuses": {}, "indexing": []})
                entry["times"] += got["times"]
                entry["indexing"].append(got["indexing"])
                for code, count in got["statuses"].items():
                    entry["statuses"][code] = entry["statuses"].get(code, 0) + count
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nThe count alone, in-process, 2,000 calls:")
    for backend, cost in costs.items():
        print(f"  {backend}: {cost}")
    print(f"\nGET /api/search while indexing Django's package (SQLite, {args.rounds} rounds each)\n")
    print(f"{'':<12} {'requests':>9} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9} {'indexing':>10}  statuses")
    for label, entry in results.items():
        times = entry["times"]
        print(
            f"{label:<12} {len(times):>9} {statistics.median(times) * 1000:8.1f}ms "
            f"{percentile(times, 0.95) * 1000:8.1f}ms {percentile(times, 0.99) * 1000:8.1f}ms "
            f"{max(times) * 1000:8.1f}ms {statistics.median(entry['indexing']):9.1f}s  "
            f"{entry['statuses']}"
        )


if __name__ == "__main__":
    main()
