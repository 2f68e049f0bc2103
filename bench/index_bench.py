"""Indexing benchmark: a large real source tree, from scratch and incrementally.

    python bench/index_bench.py                       # SQLite (embedded default)
    python bench/index_bench.py --postgres postgres://postgres@127.0.0.1:5432/mcp_bench

Indexes a copy of the installed Django package (about 2,800 Python files) and
reports, per database: a full index from scratch, a re-index with nothing
changed, and a re-index after one file changed: from job start to searchable (the
commit that makes the new generation live) and to the job's end.
The baseline row is the bare cost of walking and reading every file, with no
parsing and no database, measured in the same run.

    python bench/index_bench.py --compare-index-form [--postgres URL]

runs each database twice per round, interleaved: with the trigram index over the
text's index form (search/migrations/0003: characters whose case folding holds ASCII
letters replaced by it, for full case folding) and over the plain text as before
(migrated back to search 0002), to show what that form costs while indexing.
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

ROOT = Path(__file__).resolve().parents[1]


def run_one(tree: str, repeat: int, search_at: str | None = None) -> dict:
    """Runs inside a child process whose environment picks the database."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpserver.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if search_at:
        call_command("migrate", "search", search_at, verbosity=0)
    from indexing import services
    from indexing.models import Repository
    from indexing.walker import walk

    candidates, _ = walk(tree, max_bytes=1024 * 1024)
    files, size = len(candidates), sum(c.size for c in candidates)

    def baseline() -> float:
        started = time.perf_counter()
        found, _ = walk(tree, max_bytes=1024 * 1024)
        for candidate in found:
            with open(candidate.absolute, "rb") as handle:
                handle.read()
        return time.perf_counter() - started

    from indexing.signals import index_changed

    published: list[float] = []  # when a new generation went live (sent after its commit)
    index_changed.connect(lambda **_: published.append(time.perf_counter()), weak=False)

    def job(repository) -> tuple[float, object, float | None]:
        """Seconds the job took, the finished job, seconds until its generation went live."""
        queued = services.job_enqueue(repository=repository, run_in_background=False)
        published.clear()
        started = time.perf_counter()
        finished = services.job_run(job_id=queued.pk, requeue=False)
        live = published[0] - started if published else None
        return time.perf_counter() - started, finished, live

    results = {
        "files": files, "mb": size / 1e6,
        "baseline": [], "full": [], "noop": [], "one": [], "one_searchable": [],
    }  # fmt: skip
    for run in range(repeat):
        results["baseline"].append(baseline())
        Repository.objects.all().delete()
        repository = Repository.objects.create(name=f"django-{run}", path=tree)
        seconds, finished, _ = job(repository)
        assert finished.state == "succeeded", finished.error
        results["full"].append(seconds)
        results["indexed_files"] = finished.stats["added"]
        results["noop"].append(job(repository)[0])
        target = Path(tree) / "db" / "models" / "query.py"
        target.write_text(target.read_text() + f"\n# bench edit {run} {time.time()}\n")
        seconds, finished, live = job(repository)
        assert finished.stats["changed"] == 1, finished.stats
        results["one"].append(seconds)
        results["one_searchable"].append(live)
    repository.refresh_from_db()
    results["symbols"] = sum(repository.symbol_counts.values())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", help="also run on this PostgreSQL URL (its database is recreated)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--compare-index-form",
        action="store_true",
        help="also index with the search migrations at 0002 (the plain text), interleaved",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--search-at", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.repeat, args.search_at)))
        return

    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-index-bench-"))
    tree = work / "roots" / "django"
    shutil.copytree(django.__path__[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    backends = [("SQLite", {})]
    if args.postgres:
        backends.append(("PostgreSQL", {"DATABASE_URL": args.postgres}))
    # (label, search migration to index at): the current index form, and with
    # --compare-index-form the plain text of search/0002 as the baseline.
    variants = [("", None)]
    if args.compare_index_form:
        variants = [(" index form", None), (" plain (0002)", "0002_folded_text_index")]
    rounds = args.repeat if args.compare_index_form else 1
    per_child = 1 if args.compare_index_form else args.repeat
    rows = []
    try:
        for label, extra in backends:
            merged: dict[str, dict] = {}
            for _round in range(rounds):
                for suffix, search_at in variants:
                    out = _child(work, tree, label, extra, args, per_child, search_at)
                    merged.setdefault(label + suffix, {k: [] for k in out if _listed(out, k)})
                    for key, value in out.items():
                        if _listed(out, key):
                            merged[label + suffix][key] += value
                        else:
                            merged[label + suffix][key] = value
            rows += list(merged.items())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    first = rows[0][1]
    print(
        f"\nTree: the installed Django package, {first['files']} files walked, "
        f"{first['indexed_files']} text files indexed, {first['mb']:.1f} MB, "
        f"{first['symbols']} symbols; median of {args.repeat} runs\n"
    )
    width = max(len(label) for label, _ in rows)
    print(f"{'database':<{width}} {'what':<36} {'seconds':>8} {'files/s':>9} {'MB/s':>7}  goal")
    for label, r in rows:
        median = {
            k: statistics.median(r[k])
            for k in ("baseline", "full", "noop", "one_searchable", "one")
        }
        lines = [
            ("baseline: walk + read, no index", median["baseline"], ""),
            ("full index from scratch", median["full"], "<= 15 s"),
            ("re-index, nothing changed", median["noop"], "<= 0.5 s"),
            ("one file changed: searchable", median["one_searchable"], "<= 0.25 s"),
            ("one file changed: whole job", median["one"], ""),
        ]
        for what, seconds, goal in lines:
            rate = f"{r['files'] / seconds:9.0f} {r['mb'] / seconds:7.1f}"
            print(f"{label:<{width}} {what:<36} {seconds:8.3f} {rate}  {goal}")


def _listed(result: dict, key: str) -> bool:
    return isinstance(result[key], list)


def _child(work, tree, label, extra, args, repeat, search_at) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "MCP_DATA_DIR": str(work / label),
            "MCP_INDEX_ROOTS": str(work / "roots"),
            "MCP_SEMANTIC_ENABLED": "false",
            **extra,
        }
    )
    if label == "PostgreSQL":
        _recreate_postgres(args.postgres)
    else:
        shutil.rmtree(work / label, ignore_errors=True)
    command = [sys.executable, __file__, "--child", str(tree), "--repeat", str(repeat)]
    if search_at:
        command += ["--search-at", search_at]
    out = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        # FORCE: a server of the previous run may still hold a connection.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
