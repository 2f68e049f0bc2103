"""Semantic search quality and speed on a known tree, in one run.

    python bench/semantic_bench.py                       # SQLite (embedded default)
    python bench/semantic_bench.py --postgres postgres://postgres@127.0.0.1:5432/mcp_bench

Indexes (and embeds) a copy of part of the installed Django package: auth, sessions,
cache, mail, middleware, http and utils, without translations or migrations. Then asks
natural-language questions, each with the file and function it should find, three
ways side by side: semantic, literal (the question as a substring, what a plain code
search does with it) and hybrid (reciprocal rank fusion of semantic, literal and
symbol hits). Reports recall@5 and MRR (over the top 10), the embedding throughput of
the indexing job (chunks/s) and the query latency of semantic and hybrid search.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = [
    "contrib/auth",
    "contrib/sessions",
    "core/cache",
    "core/mail",
    "middleware",
    "http",
    "utils",
]
IGNORE = ("__pycache__", "locale", "migrations", "templates", "static")
QUERY_ROUNDS = 3

# question -> acceptable (path, function or class) answers
QUESTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("delete expired sessions from the database", [("contrib/sessions/backends/db.py", "clear_expired")]),
    ("remove session files that have expired", [("contrib/sessions/backends/file.py", "clear_expired")]),
    ("write the session data to a file on disk", [("contrib/sessions/backends/file.py", "save")]),
    ("check whether a password matches its stored hash", [("contrib/auth/hashers.py", "check_password")]),
    ("create a user with superuser rights", [("contrib/auth/models.py", "create_superuser")]),
    ("send an email to many recipients in one connection", [("core/mail/__init__.py", "send_mass_mail")]),
    ("email the site administrators", [("core/mail/__init__.py", "mail_admins")]),
    ("increase a number stored in the cache", [("core/cache/backends/base.py", "incr")]),
    ("store a value in the cache only if the key is not there yet", [("core/cache/backends/base.py", "add")]),
    ("redirect plain http requests to https", [("middleware/security.py", "process_request"), ("middleware/security.py", "SecurityMiddleware")]),
    ("add the X-Frame-Options header against clickjacking", [("middleware/clickjacking.py", "process_response"), ("middleware/clickjacking.py", "XFrameOptionsMiddleware"), ("middleware/clickjacking.py", "get_xframe_options_value")]),
    ("compress the response body with gzip", [("middleware/gzip.py", "process_response"), ("middleware/gzip.py", "GZipMiddleware")]),
    ("reject a POST request whose CSRF token is wrong", [("middleware/csrf.py", "process_view"), ("middleware/csrf.py", "_check_token")]),
    ("parse a Cookie header into a dictionary", [("http/cookie.py", "parse_cookie")]),
    ("return data serialized as JSON in an HTTP response", [("http/response.py", "JsonResponse")]),
    ("stream a file to the client", [("http/response.py", "FileResponse")]),
    ("set a cookie on the response", [("http/response.py", "set_cookie")]),
    ("parse a multipart form upload", [("http/multipartparser.py", "MultiPartParser"), ("http/multipartparser.py", "parse")]),
    ("shorten a text to a number of words", [("utils/text.py", "words"), ("utils/text.py", "Truncator")]),
    ("turn a title into a url slug", [("utils/text.py", "slugify")]),
    ("log the user out and flush the session", [("contrib/auth/__init__.py", "logout")]),
    ("persist the user id in the session after login", [("contrib/auth/__init__.py", "login")]),
    ("make a token for a password reset link", [("contrib/auth/tokens.py", "make_token"), ("contrib/auth/tokens.py", "PasswordResetTokenGenerator")]),
    ("decorator that sends anonymous visitors to the login page", [("contrib/auth/decorators.py", "login_required"), ("contrib/auth/decorators.py", "user_passes_test")]),
    ("does the user have this permission", [("contrib/auth/models.py", "has_perm")]),
    ("refuse passwords that are too common", [("contrib/auth/password_validation.py", "CommonPasswordValidator")]),
    ("require passwords to have a minimum number of characters", [("contrib/auth/password_validation.py", "MinimumLengthValidator")]),
    ("lowercase the domain part of an email address", [("contrib/auth/base_user.py", "normalize_email")]),
    ("open a connection to the SMTP server", [("core/mail/backends/smtp.py", "open")]),
    ("attach a file to an email", [("core/mail/message.py", "attach")]),
    ("cache whole pages in middleware", [("middleware/cache.py", "UpdateCacheMiddleware"), ("middleware/cache.py", "FetchFromCacheMiddleware"), ("middleware/cache.py", "CacheMiddleware")]),
    ("hash a password with PBKDF2 and a salt", [("contrib/auth/hashers.py", "PBKDF2PasswordHasher"), ("contrib/auth/hashers.py", "encode")]),
    ("compare two strings in constant time", [("utils/crypto.py", "constant_time_compare")]),
    ("format a date according to a format string", [("utils/dateformat.py", "format"), ("utils/dateformat.py", "DateFormat")]),
]  # fmt: skip


CHILD = r"""
import json, os, statistics, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
from indexing.indexer import index_repository
from indexing.models import Repository, Symbol
from search import engine, semantic

tree, questions, rounds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
repository = Repository.objects.create(name="django-part", path=tree)
result = index_repository(repository)
stats = result.semantic.as_stats()

definitions = {}
for path, name, start, end in Symbol.objects.values_list("file__path", "name", "start_line", "end_line"):
    definitions.setdefault((path, name), []).append((start, end))

def matches(hit, answers):
    path, start, end, symbol = hit
    for want_path, want_name in answers:
        if path != want_path:
            continue
        if symbol == want_name:
            return True
        for def_start, _def_end in definitions.get((path, want_name), []):
            if start <= def_start <= end:  # the hit holds the definition
                return True
    return False

missing = [a for _q, answers in questions for a in answers if tuple(a) not in definitions]

def ranked(mode, q):
    if mode == "literal":
        hits = engine.search(engine.Query(q=q, limit=10)).hits
        return [(h.path, h.line, h.line, "") for h in hits]
    if mode == "semantic":
        found = semantic.semantic_hits(q=q, repositories=[], language=None, limit=10)
    else:
        found = semantic.hybrid_hits(q=q, repositories=[], language=None, limit=10, with_code=True)
    return [(h.path, h.start_line, h.end_line, h.symbol) for h in found]

quality, latency = {}, {}
for mode in ("semantic", "literal", "hybrid"):
    recall, reciprocal, times = 0, 0.0, []
    for q, answers in questions:
        for _ in range(rounds):
            started = time.perf_counter()
            hits = ranked(mode, q)
            times.append(time.perf_counter() - started)
        rank = next((i for i, hit in enumerate(hits, 1) if matches(hit, answers)), None)
        recall += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0
    quality[mode] = {"recall@5": recall / len(questions), "mrr": reciprocal / len(questions)}
    times.sort()
    latency[mode] = {"p50": statistics.median(times), "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}

padded = {}
pad = int(os.environ.get("BENCH_PAD", "0"))
if pad:
    # The HNSW index at scale: near-copies of the real vectors (each a real one plus
    # noise, cosine about 0.8 to it, so they compete with the real hits; random vectors
    # would not), the index built anew (faster than inserting into it), then the same
    # questions through the index, each top 10 compared with the exact ranking in numpy.
    from django.db import connection
    from indexing import vector_index
    model = semantic.encoder()
    dim = model.dimension
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), count(*) FROM indexing_semanticchunk")
        first_id, real_rows = cursor.fetchone()
        cursor.execute(f"DROP INDEX IF EXISTS {vector_index.index_name(dim)}")
        cursor.execute(
            "INSERT INTO indexing_semanticchunk (file_id, start_line, end_line, symbol, kind, text, vector) "
            "SELECT source.file_id, 1, 1, '', '', 'padding', noisy.vec "
            "FROM generate_series(1, %s) AS g(n) "
            "CROSS JOIN LATERAL (SELECT file_id, vector FROM indexing_semanticchunk "
            "  WHERE id >= %s + (g.n %% %s) ORDER BY id LIMIT 1) AS source "
            "CROSS JOIN LATERAL (SELECT l2_normalize(array_agg(u.x + (random() - 0.5) * 0.13 ORDER BY u.i)::vector) AS vec "
            "  FROM unnest(source.vector::real[]) WITH ORDINALITY AS u(x, i) WHERE g.n > 0) AS noisy",
            [pad, first_id, real_rows],
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        cursor.execute(vector_index.create_index_sql(dim))
        build = time.perf_counter() - started
        cursor.execute("ANALYZE indexing_semanticchunk")
    semantic._sets.clear()
    agree, recall, reciprocal, times, plans = 0.0, 0, 0.0, [], set()
    for q, answers in questions:
        exact = [pk for pk, _ in semantic._nearest_in_memory(model, q, repositories=[], language=None, limit=10)]
        for _ in range(rounds):
            started = time.perf_counter()
            hits = semantic.semantic_hits(q=q, repositories=[], language=None, limit=10)
            times.append(time.perf_counter() - started)
        found = [pk for pk, _ in semantic._nearest_in_database(model, q, repositories=[], language=None, limit=10)]
        agree += len(set(found) & set(exact)) / len(exact)
        rank = next((i for i, h in enumerate(hits, 1) if matches((h.path, h.start_line, h.end_line, h.symbol), answers)), None)
        recall += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0
    times.sort()
    # How much of the exact top 10 the index finds at other search breadths.
    breadth = {}
    configured = semantic.HNSW_MIN_EF_SEARCH
    for ef in (40, 100, 200, 400):
        semantic.HNSW_MIN_EF_SEARCH = ef
        shared = 0.0
        for q, _answers in questions:
            exact = {pk for pk, _ in semantic._nearest_in_memory(model, q, repositories=[], language=None, limit=10)}
            found = {pk for pk, _ in semantic._nearest_in_database(model, q, repositories=[], language=None, limit=10)}
            shared += len(exact & found) / len(exact)
        breadth[ef] = shared / len(questions)
    semantic.HNSW_MIN_EF_SEARCH = configured
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM indexing_semanticchunk")
        (rows,) = cursor.fetchone()
    padded = {
        "rows": rows, "build_seconds": build, "agreement@10": agree / len(questions), "by_ef_search": breadth,
        "recall@5": recall / len(questions), "mrr": reciprocal / len(questions),
        "p50": statistics.median(times), "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
    }
print(json.dumps({"stats": stats, "quality": quality, "latency": latency, "missing": missing, "padded": padded}))
"""


def run(label: str, tree: Path, work: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mcpserver.settings",
            "MCP_DATA_DIR": str(work / label),
            "MCP_INDEX_ROOTS": str(tree.parent),
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), json.dumps(QUESTIONS), str(QUERY_ROUNDS)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", help="also run on this PostgreSQL URL (its database is recreated)"
    )
    parser.add_argument(
        "--pad",
        type=int,
        default=0,
        help="on PostgreSQL, then add this many random vectors and measure the HNSW index",
    )
    args = parser.parse_args()
    import django

    work = Path(tempfile.mkdtemp(prefix="mcp-semantic-bench-"))
    tree = work / "roots" / "django-part"
    for part in PARTS:
        shutil.copytree(
            Path(django.__path__[0]) / part, tree / part, ignore=shutil.ignore_patterns(*IGNORE)
        )
    results = []
    try:
        results.append(("SQLite", run("SQLite", tree, work, {})))
        if args.postgres:
            from index_bench import _recreate_postgres

            _recreate_postgres(args.postgres)
            results.append(
                (
                    "PostgreSQL",
                    run(
                        "PostgreSQL",
                        tree,
                        work,
                        {"DATABASE_URL": args.postgres, "BENCH_PAD": str(args.pad)},
                    ),
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{len(QUESTIONS)} questions, {QUERY_ROUNDS} rounds each; tree: Django {django.__version__}: {', '.join(PARTS)}"
    )
    for label, result in results:
        stats = result["stats"]
        rate = stats["chunks"] / stats["seconds"] if stats.get("seconds") else 0
        print(
            f"\n{label}: embedded {stats['chunks']} chunks of {stats['files']} files in {stats['seconds']:.1f} s = {rate:.1f} chunks/s"
        )
        if result["missing"]:
            print(
                f"  answers not found in the index (check the question list): {result['missing']}"
            )
        print(f"  {'mode':<9} {'recall@5':>9} {'MRR':>6} {'p50':>9} {'p95':>9}")
        for mode in ("semantic", "literal", "hybrid"):
            q, t = result["quality"][mode], result["latency"][mode]
            print(
                f"  {mode:<9} {q['recall@5']:>9.2f} {q['mrr']:>6.2f} {t['p50'] * 1000:>7.1f}ms {t['p95'] * 1000:>7.1f}ms"
            )
        if padded := result.get("padded"):
            print(
                f"  with near-copies padding it to {padded['rows']} vectors (HNSW index built in {padded['build_seconds']:.1f} s):\n"
                f"  semantic  {padded['recall@5']:>9.2f} {padded['mrr']:>6.2f} {padded['p50'] * 1000:>7.1f}ms {padded['p95'] * 1000:>7.1f}ms"
                f"   top 10 shared with the exact ranking: {padded['agreement@10']:.1%}"
            )
            print(
                "  top 10 shared with the exact ranking by hnsw.ef_search: "
                + ", ".join(f"{ef}: {share:.1%}" for ef, share in padded["by_ef_search"].items())
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
