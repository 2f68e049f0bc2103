"""Search benchmark against ripgrep, over HTTP with a real token, in one run.

    python bench/search_bench.py                       # SQLite (embedded default)
    python bench/search_bench.py --postgres postgres://postgres@127.0.0.1:5432/mcp_bench \
        --redis redis://127.0.0.1:6379/15        # PostgreSQL + Redis, as in production

Indexes a copy of the installed Django package, starts the real server
(gunicorn, two workers) on 127.0.0.1, and times each query through the HTTP API
with a viewer's access token (first page, 50 hits). ripgrep runs the same
queries over the same tree in the same run (case-insensitive, like the API's
default). Reports p50 and p95 per query class, twice: "cold" with the server's
per-process result memory off (every request searches), and "repeat" with the
default, where a repeated query is answered from memory until the index changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]

LITERAL_RARE = ["MultipleObjectsReturned", "xframe_options_exempt", "ROOT_URLCONF", "get_or_create"]
LITERAL_COMMON = ["return self", "import os", "request", "def __init__"]
REGEX = [r"def \w+_or_create\(", r"class \w+Form\(", r"raise \w+Error\(", r"self\.\w+_cache"]
SYMBOLS = ["QuerySet", "get_or_create", "as_sq", "gfk", "ModelAdmin"]
RUNS = 30
RG_RUNS = 5


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def setup(tree: Path, env: dict) -> str:
    """Migrate, index the tree, and return an access token (in a child process)."""
    script = f"""
import os, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from accounts import services as accounts
from accounts.models import User
from indexing import services
from indexing.models import Repository
user = User.objects.filter(username="bench").first() or accounts.user_create(
    username="bench", password=None, role_name="viewer")
repo = Repository.objects.create(name="django", path={str(tree)!r})
job = services.job_enqueue(repository=repo, run_in_background=False)
services.job_run(job_id=job.pk, requeue=False)
# No VACUUM or ANALYZE here: searches are timed in the state a job leaves behind
# (indexing/maintenance.py does the part of autovacuum's work that search needs).
tokens = accounts.session_start(user=user, requested_scopes=None, client_ip=None)
print(tokens.as_response()["access_token"])
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1]


def time_api(base: str, token: str, path: str, params: dict) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.get(f"{base}{path}", params=params, timeout=30).raise_for_status()  # warm
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = session.get(f"{base}{path}", params=params, timeout=30)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def time_rg(args: list[str], tree: Path) -> list[float]:
    times = []
    for _ in range(RG_RUNS):
        started = time.perf_counter()
        subprocess.run(["rg", "-i", "-n", *args, str(tree)], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def run_backend(label: str, tree: Path, work: Path, extra: dict) -> list[tuple]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mcpserver.settings",
            "MCP_DATA_DIR": str(work / label),
            "MCP_INDEX_ROOTS": str(tree.parent),
            "LOG_LEVEL": "WARNING",
            # Text search only: embedding the tree is bench/semantic_bench.py's business.
            "MCP_SEMANTIC_ENABLED": "false",
            **extra,
        }
    )
    token = setup(tree, env)
    rows = []
    # Cold: every request runs the search (the per-process result memory is off).
    # Repeat: the default, where a repeated query is answered from memory until the
    # index changes; the first request of each query is the warm-up, not timed.
    for mode, seconds in (("cold", "0"), ("repeat", "60")):
        rows += serve_and_time(f"{label} {mode}", {**env, "MCP_SEARCH_CACHE_SECONDS": seconds},
                               tree, token)  # fmt: skip
    return rows


def serve_and_time(label: str, env: dict, tree: Path, token: str) -> list[tuple]:
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mcpserver.wsgi:application", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:  # not listening yet, or still booting
                time.sleep(0.2)
        rows = []
        classes = [
            ("literal, rare", LITERAL_RARE, lambda q: ("/api/search", {"q": q}), lambda q: ["-F", q]),
            ("literal, common", LITERAL_COMMON, lambda q: ("/api/search", {"q": q}), lambda q: ["-F", q]),
            ("regex with a literal", REGEX, lambda q: ("/api/search", {"q": q, "regex": "true"}), lambda q: ["-e", q]),
            ("symbol lookup", SYMBOLS, lambda q: ("/api/symbols", {"q": q}), lambda q: ["-e", rf"(def|class) \w*{q}"]),
        ]  # fmt: skip
        for name, queries, api, rg_args in classes:
            api_times, rg_times = [], []
            for q in queries:
                path, params = api(q)
                api_times += time_api(base, token, path, params)
                rg_times += time_rg(rg_args(q), tree)
            rows.append((label, name, api_times, rg_times))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", help="also run on this PostgreSQL URL (its database is recreated)"
    )
    parser.add_argument(
        "--redis",
        help="the PostgreSQL run's shared cache, as in production (this Redis database is "
        "flushed); without it that run keeps the cache in PostgreSQL",
    )
    args = parser.parse_args()
    if args.redis and not args.postgres:
        parser.error("--redis goes with --postgres (the embedded default has no Redis)")
    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-search-bench-"))
    tree = work / "roots" / "django"
    shutil.copytree(django.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    rows = []
    try:
        rows += run_backend("SQLite", tree, work, {})
        if args.postgres:
            from index_bench import _recreate_postgres

            _recreate_postgres(args.postgres)
            extra = {"DATABASE_URL": args.postgres}
            if args.redis:
                import redis

                redis.Redis.from_url(args.redis).flushdb()
                extra["REDIS_URL"] = args.redis
            rows += run_backend("PG+Redis" if args.redis else "PostgreSQL", tree, work, extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        "\nTree: the installed Django package; API = first page over HTTP with a token, "
        f"{RUNS} runs a query; ripgrep = `rg -i -n`, {RG_RUNS} runs a query\n"
    )
    print(
        f"{'database':<18} {'query class':<22} {'API p50':>8} {'API p95':>8} {'rg p50':>8} {'rg p95':>8} {'rg/API p50':>10}"
    )
    for label, name, api_times, rg_times in rows:
        api50, api95 = statistics.median(api_times), percentile(api_times, 0.95)
        rg50, rg95 = statistics.median(rg_times), percentile(rg_times, 0.95)
        print(
            f"{label:<18} {name:<22} {api50 * 1000:7.1f}ms {api95 * 1000:7.1f}ms "
            f"{rg50 * 1000:7.1f}ms {rg95 * 1000:7.1f}ms {rg50 / api50:9.1f}x"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
