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

    python bench/search_bench.py --engine --baseline ../old-checkout

adds the search engine itself, in-process (no HTTP, token or JSON), on the same index:
this checkout and, with --baseline, another one, alternating A, B, A, B so that load on
the machine falls on both alike. The baseline must work on this checkout's database
schema (its migrations are not run).
"""

from __future__ import annotations

import argparse
import json
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
# (name, queries, how the engine runs them, ripgrep's arguments)
CLASSES = [
    ("literal, rare", LITERAL_RARE, "literal", lambda q: ["-F", q]),
    ("literal, common", LITERAL_COMMON, "literal", lambda q: ["-F", q]),
    ("regex with a literal", REGEX, "regex", lambda q: ["-e", q]),
    ("symbol lookup", SYMBOLS, "symbols", lambda q: ["-e", rf"(def|class) \w*{q}"]),
]
ENGINE_PASSES = 2  # per checkout, alternating with the baseline

# Runs in a child process whose PYTHONPATH and working directory are the checkout timed.
ENGINE_SCRIPT = """
import json, sys, time, django
django.setup()
from search import engine, selectors
classes, runs = json.loads(sys.argv[1]), int(sys.argv[2])
def once(kind, q):
    if kind == "symbols":
        selectors.symbol_search(q=q, kinds=[], language=None, repositories=[], limit=50)
    else:
        engine.search(engine.Query(q=q, regex=kind == "regex", limit=50))
out = {}
for name, kind, queries in classes:
    out[name] = []
    for q in queries:
        once(kind, q)
        for _ in range(runs):
            started = time.perf_counter()
            once(kind, q)
            out[name].append(time.perf_counter() - started)
print(json.dumps(out))
"""


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


def run_backend(
    label: str, tree: Path, work: Path, extra: dict, *, engine: bool, baseline: Path | None
) -> list[tuple]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mcpserver.settings",
            "MCP_DATA_DIR": str(work / label),
            "MCP_INDEX_ROOTS": str(tree.parent),
            "LOG_LEVEL": "WARNING",
            # Text search only: embedding the tree is bench/semantic_bench.py's business.
            "MCP_SEMANTIC_ENABLED": "false",
            # Every search takes one call of the caller's budget, as in production; a
            # limit no run reaches, so that the cost is timed but nothing is refused.
            "MCP_TOOL_CALLS_PER_MINUTE": "1000000000",
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
    if engine:
        rg_of = {name: rg_times for _label, name, _times, rg_times in rows[: len(CLASSES)]}
        checkouts = [("engine", ROOT)] + ([("engine, baseline", baseline)] if baseline else [])
        timed: dict[tuple[str, str], list[float]] = {}
        for _ in range(ENGINE_PASSES):
            for mode, checkout in checkouts:
                for name, times in time_engine(checkout, env).items():
                    timed.setdefault((mode, name), []).extend(times)
        rows += [
            (f"{label} {mode}", name, times, rg_of[name]) for (mode, name), times in timed.items()
        ]
    return rows


def time_engine(checkout: Path, env: dict) -> dict[str, list[float]]:
    """Seconds per query class, the engine called in-process from `checkout`."""
    classes = [(name, kind, queries) for name, queries, kind, _rg in CLASSES]
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_SCRIPT, json.dumps(classes), str(RUNS // ENGINE_PASSES)],
        env={**env, "PYTHONPATH": str(checkout)},
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"the engine of {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_and_time(label: str, env: dict, tree: Path, token: str) -> list[tuple]:
    from serving import start_gunicorn

    server, base = start_gunicorn(env, 18000 + os.getpid() % 1000)
    try:
        rows = []
        for name, queries, kind, rg_args in CLASSES:
            api_times, rg_times = [], []
            for q in queries:
                path = "/api/symbols" if kind == "symbols" else "/api/search"
                params = {"q": q, **({"regex": "true"} if kind == "regex" else {})}
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
    parser.add_argument(
        "--engine", action="store_true", help="also time the search engine in-process"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="with --engine: another checkout whose engine is timed beside this one",
    )
    args = parser.parse_args()
    if shutil.which("rg") is None:
        parser.error("ripgrep (rg) is not installed: apt-get install ripgrep")
    if args.baseline and not args.engine:
        parser.error("--baseline goes with --engine")
    if args.baseline and not (args.baseline / "search" / "engine.py").is_file():
        parser.error(f"--baseline {args.baseline} is not a checkout of this project")
    if args.redis and not args.postgres:
        parser.error("--redis goes with --postgres (the embedded default has no Redis)")
    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-search-bench-"))
    tree = work / "roots" / "django"
    shutil.copytree(django.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    rows = []
    try:
        options = {"engine": args.engine, "baseline": args.baseline}
        rows += run_backend("SQLite", tree, work, {}, **options)
        if args.postgres:
            from index_bench import _recreate_postgres

            _recreate_postgres(args.postgres)
            extra = {"DATABASE_URL": args.postgres}
            if args.redis:
                import redis

                redis.Redis.from_url(args.redis).flushdb()
                extra["REDIS_URL"] = args.redis
            label = "PG+Redis" if args.redis else "PostgreSQL"
            rows += run_backend(label, tree, work, extra, **options)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        "\nTree: the installed Django package; API = first page over HTTP with a token, "
        f"{RUNS} runs a query; engine = the same first page in-process; "
        f"ripgrep = `rg -i -n`, {RG_RUNS} runs a query\n"
    )
    print(
        f"{'database':<26} {'query class':<22} {'p50':>8} {'p95':>8} {'rg p50':>8} {'rg p95':>8} {'rg÷p50':>10}"
    )
    for label, name, api_times, rg_times in rows:
        api50, api95 = statistics.median(api_times), percentile(api_times, 0.95)
        rg50, rg95 = statistics.median(rg_times), percentile(rg_times, 0.95)
        print(
            f"{label:<26} {name:<22} {api50 * 1000:7.1f}ms {api95 * 1000:7.1f}ms "
            f"{rg50 * 1000:7.1f}ms {rg95 * 1000:7.1f}ms {rg50 / api50:9.1f}x"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
