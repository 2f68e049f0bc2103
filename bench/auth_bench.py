"""What authentication costs a request on the real server, against stock SimpleJWT.

    python bench/auth_bench.py                          # PostgreSQL + Redis, then embedded
    python bench/auth_bench.py --seconds 5 --rounds 3 \\
        --postgres postgres://postgres@127.0.0.1:5432/mcp_bench_auth \\
        --redis redis://127.0.0.1:6379/13
    python bench/auth_bench.py --skip-embedded          # PostgreSQL + Redis only
    python bench/auth_bench.py --skip-postgres          # the embedded default only

Needs wrk (`apt-get install -y wrk` on Debian and Ubuntu, `brew install wrk` on macOS).

For each backend two servers run side by side, each gunicorn with 2 sync workers on
127.0.0.1: this project (its own settings, bench/auth_servers/twins.py, which only adds
two bench-only twin endpoints) and a minimal stock project (bench/auth_servers/stock.py:
contenttypes, auth, DRF and stock rest_framework_simplejwt JWTAuthentication, which
loads the user row on every request) on the same database server (its own database, or
its own SQLite file on the embedded default). Endpoints:

- /bench/open and /bench/closed: the same tiny DRF view, without authentication and with
  the project's default authentication and permission classes (mcp:search:code), the
  latter with a JWT, an API key in X-API-Key and an API key as a Bearer token;
- GET /auth/me with a JWT and with an API key;
- GET /api/search with a JWT, the same query each time (answered from the per-process
  result memory, search/results_cache.py);
- POST /mcp, tools/call of search_code with the same arguments each time, with a JWT;
- the stock server's view behind stock SimpleJWT, and the same view with AllowAny.

After a warm-up, each round runs wrk (2 threads, 16 connections, --seconds each) against
every endpoint once, in that order; --rounds rounds, and the median of each figure is
reported. Worker CPU per request is the user + system time of the gunicorn workers
(children of the master, /proc/<pid>/stat) during the sweep, divided by the requests wrk
completed ("cores" is that CPU time over the sweep's wall time); differences and ratios
are taken within each round, then their median. The setup also checks in-process whether
two identical search_code calls run the search engine once (answered from the result
memory) and says so.

The per-user call budget (MCP_TOOL_CALLS_PER_MINUTE) is set to a limit nobody reaches,
so that it still counts every search and tool call (its cost shows) but never refuses
one; the result memory keeps entries for an hour (MCP_SEARCH_CACHE_SECONDS=3600) and
tokens live a day, so that neither runs out during a long run. Nothing else is changed:
middleware, logging (LOG_LEVEL INFO), database connections are the project's defaults.
The stock server keeps its database connections open between requests like this project
(CONN_MAX_AGE 60), so that the anchor measures authentication, not connecting.

Goals (issue 17; PostgreSQL + Redis): authentication adds at most 250 us of worker CPU
per request over the open twin, for a JWT and an API key; /auth/me with a JWT serves at
least 1.5 times the requests per second of stock SimpleJWT; an MCP tool call answered
from the result memory costs at most 1.5 ms of worker CPU. On the embedded default:
/auth/me with a JWT at least the stock figure. Exit status 1 when a goal is missed or a
request failed. Everything on loopback; each wrk run is bounded by --seconds.

Requests per second move with whatever else the machine runs (the "cores" column shows
when the workers lost CPU to it); worker CPU per request hardly does. Run on a quiet
machine, and read req/s ratios with the cores column beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
    "Content-Type": "application/json",
}
SEARCH_QUERY = {"q": "get_response", "limit": "20"}
MCP_ARGUMENTS = {"query": "get_response", "limit": 20}
MCP_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "search_code", "arguments": MCP_ARGUMENTS},
}
# What the servers are told, beyond where their data lives (see the docstring).
BENCH_ENV = {
    "MCP_TOOL_CALLS_PER_MINUTE": "1000000000",
    "MCP_SEARCH_CACHE_SECONDS": "3600",
    "JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "1440",
    "MCP_SEMANTIC_ENABLED": "false",
}

OURS_SETUP = r"""
import json, sys
from unittest import mock
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from accounts import services
from indexing.indexer import index_repository
from indexing.models import Repository
user = services.user_create(username="bench", password=None, role_name="developer")
jwt = services.session_start(user=user, requested_scopes=None, client_ip=None)
_, key = services.api_key_create(user=user, name="auth bench", scopes=["mcp:search:code"])
repository = Repository.objects.create(name="sample", path=sys.argv[1])
files = index_repository(repository, semantic=False).files_seen
# Does a repeated search_code call skip the search (the result memory)? Count how often
# the engine runs for two identical calls of the tool, in this process.
try:
    from mcpserver.mcp.tools import TOOLS
    from search import engine
    tool = next(t for t in TOOLS if t.name == "search_code")
    with mock.patch.object(engine, "search", wraps=engine.search) as spy:
        for _ in range(2):
            tool.run(user, json.loads(sys.argv[2]))
    engine_runs = spy.call_count
except Exception as exc:
    engine_runs = f"unknown ({type(exc).__name__}: {exc})"
print(json.dumps({"jwt": jwt.as_response()["access_token"], "key": key, "files": files,
                  "engine_runs": engine_runs}))
"""

STOCK_SETUP = r"""
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken
user = get_user_model().objects.create_user("bench", password=None)
print(str(AccessToken.for_user(user)))
"""

# wrk prints this line at the end of a run (see wrk's SCRIPTING: done()).
LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("AUTHBENCH %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Endpoint:
    key: str
    label: str
    server: str  # "ours" or "stock"
    path: str
    headers: dict = field(default_factory=dict)
    body: str | None = None
    expect: str = "ok"  # what a good answer looks like (check_endpoint)


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    workers: list[int]


def endpoints(ours: dict, stock_token: str) -> list[Endpoint]:
    jwt = {"Authorization": f"Bearer {ours['jwt']}"}
    key = {"Authorization": f"Bearer {ours['key']}"}
    search = "&".join(f"{name}={value}" for name, value in SEARCH_QUERY.items())
    return [
        Endpoint("open", "twin, no authentication", "ours", "/bench/open"),
        Endpoint("jwt", "twin, JWT", "ours", "/bench/closed", jwt),
        Endpoint(
            "x-api-key",
            "twin, API key (X-API-Key)",
            "ours",
            "/bench/closed",
            {"X-API-Key": ours["key"]},
        ),
        Endpoint("bearer-key", "twin, API key (Bearer)", "ours", "/bench/closed", key),
        Endpoint("me-jwt", "/auth/me, JWT", "ours", "/auth/me", jwt, expect="jwt"),
        Endpoint("me-key", "/auth/me, API key (Bearer)", "ours", "/auth/me", key, expect="api_key"),
        Endpoint(
            "search",
            "/api/search, JWT, remembered",
            "ours",
            f"/api/search?{search}",
            jwt,
            expect="hits",
        ),
        Endpoint(
            "mcp",
            "MCP tools/call search_code, JWT",
            "ours",
            "/mcp",
            {**jwt, **MCP_HEADERS},
            json.dumps(MCP_CALL),
            expect="mcp",
        ),
        Endpoint("stock-open", "stock, AllowAny", "stock", "/stock/open"),
        Endpoint(
            "stock-jwt",
            "stock SimpleJWT",
            "stock",
            "/stock/closed",
            {"Authorization": f"Bearer {stock_token}"},
        ),
    ]


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: the master's children."""
    try:
        return sorted(
            int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()
        )
    except OSError:  # a kernel without that file: look at every process's parent
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
        return sorted(found)


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (proc(5): fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start_server(app: str, env: dict, ready_path: str, log: Path) -> Server:
    """gunicorn with WORKERS sync workers, once `ready_path` answers and every worker runs."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base + ready_path, timeout=2).ok:
                workers = worker_pids(process.pid)
                if len(workers) == WORKERS:
                    return Server(process, base, workers)
        except requests.RequestException:  # not listening yet, or still booting
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit(f"{app} did not come up on port {port}; its log:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


def base_env() -> dict:
    """This environment without anything that would choose settings or a database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_", "JWT_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "DB_CONN_MAX_AGE"):
        env.pop(name, None)
    return env


def setup(script: str, env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        sys.exit(f"setup failed ({env['DJANGO_SETTINGS_MODULE']}):\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        # FORCE: a server of an earlier run may still hold a connection.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- measuring -------------------------------------------------------------------------------


def lua_string(value: str) -> str:
    return f"[==[{value}]==]"


def wrk_script(endpoint: Endpoint, folder: Path) -> Path:
    lines = [f'wrk.method = "{"POST" if endpoint.body is not None else "GET"}"']
    for name, value in endpoint.headers.items():
        lines.append(f'wrk.headers["{name}"] = {lua_string(value)}')
    if endpoint.body is not None:
        lines.append(f"wrk.body = {lua_string(endpoint.body)}")
    script = folder / f"{endpoint.key}.lua"
    script.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return script


def check_endpoint(endpoint: Endpoint, server: Server) -> str:
    """One request the way wrk sends it; exits unless the answer is the expected one.
    Returns a short description of the answer."""
    response = requests.request(
        "POST" if endpoint.body is not None else "GET",
        server.base + endpoint.path,
        headers=endpoint.headers,
        data=endpoint.body,
        timeout=30,
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    good = response.status_code == 200 and isinstance(body, dict)
    seen = ""
    if good and endpoint.expect == "ok":
        good = body == {"ok": True}
    elif good and endpoint.expect in ("jwt", "api_key"):
        good = body.get("auth_method") == endpoint.expect
        seen = f"auth_method {body.get('auth_method')}"
    elif good and endpoint.expect == "hits":
        good = bool(body.get("hits"))
        seen = f"{len(body.get('hits', []))} hits"
    elif good and endpoint.expect == "mcp":
        result = body.get("result") or {}
        hits = (result.get("structuredContent") or {}).get("hits")
        good = result.get("isError") is False and bool(hits)
        seen = f"{len(hits or [])} hits, {len(response.content):,} bytes"
    if not good:
        sys.exit(
            f"{endpoint.label} ({endpoint.path}) answered {response.status_code}: "
            f"{response.text[:500]}"
        )
    return seen


def check_refusals(ours: Server, stock: Server) -> None:
    """The closed endpoints must refuse a request without credentials."""
    for base, path in ((ours.base, "/bench/closed"), (stock.base, "/stock/closed")):
        status = requests.get(base + path, timeout=30).status_code
        if status != 401:
            sys.exit(f"{path} without credentials answered {status}, not 401")


def sweep(endpoint: Endpoint, server: Server, script: Path, seconds: int) -> dict:
    """One wrk run; its figures and the workers' CPU per completed request."""
    before = {pid: cpu_ticks(pid) for pid in server.workers}
    done = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            "16",
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "--script",
            str(script),
            server.base + endpoint.path,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    time.sleep(0.3)  # the requests wrk left in the workers' hands finish
    lines = [line for line in done.stdout.splitlines() if line.startswith("AUTHBENCH ")]
    if done.returncode or not lines:
        sys.exit(f"wrk failed on {endpoint.path}: {done.stderr or done.stdout}")
    now = worker_pids(server.process.pid)
    if now != server.workers:  # a worker died and was replaced: its CPU is lost
        server.workers = now
        cpu = None
    else:
        cpu = sum(cpu_ticks(pid) - before[pid] for pid in now) * TICK_US
    requests_done, duration_us, status, connect, read, write, timeout, p50, p99 = (
        float(value) for value in lines[-1].split()[1:]
    )
    return {
        "rps": requests_done / (duration_us / 1e6),
        "p50": p50 / 1000,
        "p99": p99 / 1000,
        "cpu": cpu / requests_done if cpu is not None and requests_done else None,
        "cores": cpu / duration_us if cpu is not None else None,
        "errors": int(status + connect + read + write + timeout),
        "error_kinds": {
            k: int(v)
            for k, v in (
                ("status", status),
                ("connect", connect),
                ("read", read),
                ("write", write),
                ("timeout", timeout),
            )
            if v
        },
    }


def median(values) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


# --- one backend -------------------------------------------------------------------------------


def run_backend(
    name: str, work: Path, sample: Path, args, postgres: str | None, redis: str | None
) -> tuple[list[Endpoint], dict, dict]:
    """Set up both servers on one backend and run the rounds; figures per endpoint key."""
    folder = work / name
    folder.mkdir()
    env = base_env()
    stock_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "bench.auth_servers.stock",
        "STOCK_SECRET_KEY": os.urandom(32).hex(),
    }
    ours_env = {
        **env,
        **BENCH_ENV,
        "DJANGO_SETTINGS_MODULE": "bench.auth_servers.twins",
        "MCP_DATA_DIR": str(folder / "data"),
        "MCP_INDEX_ROOTS": str(sample.parent),
    }
    if postgres:
        stock_url = postgres.rsplit("/", 1)[0] + "/" + postgres.rsplit("/", 1)[1] + "_stock"
        recreate_postgres(postgres)
        recreate_postgres(stock_url)
        import redis as redis_client

        redis_client.Redis.from_url(redis).flushdb()
        ours_env.update({"DATABASE_URL": postgres, "REDIS_URL": redis})
        stock_env["STOCK_DATABASE_URL"] = stock_url
    else:
        stock_env["STOCK_SQLITE_PATH"] = str(folder / "stock.sqlite3")
    ours_setup = json.loads(
        setup(OURS_SETUP, ours_env, str(sample.resolve()), json.dumps(MCP_ARGUMENTS))
    )
    stock_token = setup(STOCK_SETUP, stock_env)
    info = {"files": ours_setup["files"], "engine_runs": ours_setup["engine_runs"]}
    ours = start_server("mcpserver.wsgi:application", ours_env, "/api/health", folder / "ours.log")
    stock = None
    try:
        stock = start_server(
            "django.core.wsgi:get_wsgi_application()",
            stock_env,
            "/stock/open",
            folder / "stock.log",
        )
        servers = {"ours": ours, "stock": stock}
        check_refusals(ours, stock)
        points = endpoints(ours_setup, stock_token)
        scripts = {point.key: wrk_script(point, folder) for point in points}
        for point in points:
            seen = check_endpoint(point, servers[point.server])
            if seen:
                info[point.key] = seen
        for point in points:  # warm-up: every worker imports, connects and remembers
            sweep(point, servers[point.server], scripts[point.key], 1)
        figures: dict[str, list[dict]] = {point.key: [] for point in points}
        for round_number in range(args.rounds):
            print(f"  {name}: round {round_number + 1} of {args.rounds}", flush=True)
            for point in points:
                figures[point.key].append(
                    sweep(point, servers[point.server], scripts[point.key], args.seconds)
                )
        info["log_bytes"] = sum((folder / log).stat().st_size for log in ("ours.log", "stock.log"))
    finally:
        stop_server(ours)
        if stock is not None:
            stop_server(stock)
    return points, figures, info


# --- the report --------------------------------------------------------------------------------


def per_round(figures: dict, compute) -> float | None:
    """A figure computed within each round, then the median over the rounds."""
    rounds = len(next(iter(figures.values())))
    values = []
    for index in range(rounds):
        try:
            values.append(compute({key: runs[index] for key, runs in figures.items()}))
        except (TypeError, ZeroDivisionError):  # a CPU figure was lost in that round
            continue
    return median(values)


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report(
    title: str,
    points: list[Endpoint],
    figures: dict,
    goals: list[tuple[str, float | None, bool | None]],
) -> None:
    print(f"\n{title}")
    print(
        f"{'endpoint':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} "
        f"{'cores':>6} {'errors':>7}"
    )
    for point in points:
        runs = figures[point.key]
        errors = sum(run["errors"] for run in runs)
        print(
            f"{point.label:<34} {fmt(median(r['rps'] for r in runs), ',.0f'):>8} "
            f"{fmt(median(r['p50'] for r in runs), '.2f'):>8} "
            f"{fmt(median(r['p99'] for r in runs), '.2f'):>8} "
            f"{fmt(median(r['cpu'] for r in runs), ',.0f'):>11} "
            f"{fmt(median(r['cores'] for r in runs), '.2f'):>6} {errors:>7}"
        )
    for point in points:
        kinds: dict[str, int] = {}
        for run in figures[point.key]:
            for kind, count in run["error_kinds"].items():
                kinds[kind] = kinds.get(kind, 0) + count
        if kinds:
            print(f"  errors on {point.label}: {kinds}")
    for point in points:
        if any(run["cpu"] is None for run in figures[point.key]):
            print(f"  {point.label}: a worker was replaced during a sweep; that CPU is not counted")

    def extra(key):
        return lambda f: f[key]["cpu"] - f["open"]["cpu"]

    print(
        f"  (cores: the workers' CPU time / the sweep's wall time, of {os.cpu_count()} shared with\n"
        "  wrk, the database and anything else running; a row lower than its neighbours lost CPU\n"
        "  to something else, and req/s with it: compare CPU per request first)"
    )
    print("\nRatios (within each round, median over rounds):")
    print(
        f"  worker CPU over the open twin: JWT +{fmt(per_round(figures, extra('jwt')), ',.0f')} us, "
        f"X-API-Key +{fmt(per_round(figures, extra('x-api-key')), ',.0f')} us, "
        f"Bearer API key +{fmt(per_round(figures, extra('bearer-key')), ',.0f')} us"
    )
    me_vs_stock = per_round(figures, lambda f: f["me-jwt"]["rps"] / f["stock-jwt"]["rps"])
    key_vs_stock = per_round(figures, lambda f: f["me-key"]["rps"] / f["stock-jwt"]["rps"])
    print(
        f"  /auth/me req/s / stock SimpleJWT req/s: JWT {fmt(me_vs_stock, '.2f')}x, "
        f"API key {fmt(key_vs_stock, '.2f')}x"
    )
    me_cpu = per_round(figures, lambda f: f["me-jwt"]["cpu"] / f["stock-jwt"]["cpu"])
    print(f"  /auth/me JWT worker CPU / stock SimpleJWT's: {fmt(me_cpu, '.2f')}x")
    print(
        f"  MCP tools/call search_code: {fmt(median(r['cpu'] for r in figures['mcp']), ',.0f')} us "
        f"worker CPU per call (REST search, same query: "
        f"{fmt(median(r['cpu'] for r in figures['search']), ',.0f')} us)"
    )
    stock_rps = per_round(figures, lambda f: f["stock-jwt"]["rps"] / f["stock-open"]["rps"])
    stock_cpu = per_round(figures, lambda f: f["stock-jwt"]["cpu"] - f["stock-open"]["cpu"])
    print(
        f"  stock SimpleJWT against stock AllowAny: {fmt(stock_rps, '.2f')}x the req/s, "
        f"+{fmt(stock_cpu, ',.0f')} us worker CPU"
    )
    ours_open = per_round(figures, lambda f: f["open"]["cpu"] - f["stock-open"]["cpu"])
    print(
        f"  open twin against stock AllowAny (middleware and the rest): "
        f"{'+' if (ours_open or 0) >= 0 else ''}{fmt(ours_open, ',.0f')} us worker CPU"
    )
    print("\nGoals:")
    for text, value, passed in goals:
        verdict = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        print(f"  [{verdict}] {text}: {fmt(value, ',.2f')}")


def goals_for(backend: str, figures: dict) -> list[tuple[str, float | None, bool | None]]:
    def check(value, ok):
        return None if value is None else ok(value)

    me_vs_stock = per_round(figures, lambda f: f["me-jwt"]["rps"] / f["stock-jwt"]["rps"])
    if backend == "embedded":
        return [
            (
                "/auth/me with a JWT, req/s / stock SimpleJWT's, >= 1",
                me_vs_stock,
                check(me_vs_stock, lambda v: v >= 1),
            )
        ]
    goals = []
    for key, label in (
        ("jwt", "JWT"),
        ("x-api-key", "X-API-Key"),
        ("bearer-key", "Bearer API key"),
    ):
        extra = per_round(figures, lambda f, key=key: f[key]["cpu"] - f["open"]["cpu"])
        goals.append(
            (
                f"{label}: worker CPU over the open twin <= 250 us",
                extra,
                check(extra, lambda v: v <= 250),
            )
        )
    goals.append(
        (
            "/auth/me with a JWT, req/s / stock SimpleJWT's, >= 1.5",
            me_vs_stock,
            check(me_vs_stock, lambda v: v >= 1.5),
        )
    )
    mcp = median(run["cpu"] for run in figures["mcp"])
    goals.append(
        (
            "MCP tool call from the result memory, worker CPU <= 1,500 us",
            mcp,
            check(mcp, lambda v: v <= 1500),
        )
    )
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="each wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved sweeps (default 3)")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/mcp_bench_auth",
        help="recreated, and <name>_stock beside it for the stock server",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="flushed")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit(
            "wrk is not installed: apt-get install -y wrk (Debian, Ubuntu), "
            "brew install wrk (macOS)"
        )
    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-auth-bench-"))
    sample = work / "roots" / "sample"
    shutil.copytree(
        Path(django.__path__[0]) / "core" / "handlers",
        sample,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    backends = []
    if not args.skip_postgres:
        backends.append(("postgres", "PostgreSQL + Redis", args.postgres, args.redis))
    if not args.skip_embedded:
        backends.append(("embedded", "embedded default (SQLite, database cache)", None, None))
    results = []
    failed = False
    try:
        for name, title, postgres, redis in backends:
            print(f"{title}: setting up (load average {os.getloadavg()[0]:.2f})", flush=True)
            results.append((name, title, *run_backend(name, work, sample, args, postgres, redis)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\ngunicorn {WORKERS} sync workers per server; wrk 2 threads, 16 connections, "
        f"{args.seconds:g} s per endpoint, {args.rounds} round(s), medians; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    print(
        "Set for the bench: MCP_TOOL_CALLS_PER_MINUTE=1000000000 (counted, never reached), "
        "MCP_SEARCH_CACHE_SECONDS=3600, JWT_ACCESS_TOKEN_EXPIRE_MINUTES=1440."
    )
    for name, title, points, figures, info in results:
        print(f"\n== {title} ==")
        print(
            f"Indexed sample: {info['files']} files (django/core/handlers); query "
            f"{json.dumps(MCP_ARGUMENTS)}: REST {info.get('search', '?')}, MCP {info.get('mcp', '?')}"
        )
        runs = info["engine_runs"]
        if runs == 1:
            print(
                "MCP search_code answered from the result memory: yes "
                "(in-process: the engine ran once for two identical calls)"
            )
        else:
            print(
                f"MCP search_code answered from the result memory: NO (in-process: the engine "
                f"ran {runs} times for two identical calls); the MCP row includes the search"
            )
        if info["log_bytes"] > 10_000:
            print(f"  note: the servers logged {info['log_bytes']:,} bytes during the run")
        goals = goals_for(name, figures)
        report(f"{title}, median of {args.rounds} round(s):", points, figures, goals)
        failed |= any(passed is False for _, _, passed in goals)
        failed |= any(run["errors"] for runs in figures.values() for run in runs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
