"""The indexer: what it stores, incremental work, and consistency when it dies."""

import os

import pytest

from indexing.indexer import CHUNK_LINES, Indexer, index_repository
from indexing.models import Chunk, IndexedFile, Repository, Symbol, visible_at
from tests.indexing.conftest import SAMPLES, touch_later, write_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(sample_repo):
    return Repository.objects.create(name="sample", path=str(sample_repo))


def visible(repository):
    repository.refresh_from_db()
    return IndexedFile.objects.filter(visible_at(repository.generation), repository=repository)


def symbols_of(repository, path):
    return {
        (s.name, s.kind, s.parent)
        for s in Symbol.objects.filter(file__in=visible(repository), file__path=path)
    }


def test_symbols_for_every_language(repository):
    index_repository(repository)
    assert symbols_of(repository, "app/models.py") == {
        ("Invoice", "class", ""),
        ("total", "method", "Invoice"),
        ("helper", "function", ""),
    }
    assert ("render", "method", "Panel") in symbols_of(repository, "app/views.js")
    assert {("Shape", "interface", ""), ("Color", "enum", "")} <= symbols_of(
        repository, "web/types.ts"
    )
    assert {("Server", "struct", ""), ("Run", "method", "")} <= symbols_of(
        repository, "cmd/main.go"
    )
    assert ("parse", "method", "Parser") in symbols_of(repository, "core/lib.rs")
    assert ("start", "method", "App") in symbols_of(repository, "java/App.java")
    assert ("add", "function", "") in symbols_of(repository, "native/util.c")
    assert ("spin", "method", "Motor") in symbols_of(repository, "native/engine.cpp")
    symbol = Symbol.objects.get(name="total")
    assert (symbol.start_line, symbol.end_line) == (2, 3)
    assert symbol.signature == "def total(self):"
    assert IndexedFile.objects.get(path="README.md").language == ""  # text only


def test_files_are_stored_as_chunks_of_lines(roots):
    lines = [f"line {n}\n" for n in range(1, 121)]
    repo = write_repo(roots / "long", {"long.txt": "".join(lines)})
    repository = Repository.objects.create(name="long", path=str(repo))
    index_repository(repository)
    chunks = list(Chunk.objects.order_by("start_line").values_list("start_line", "end_line"))
    assert chunks == [(1, CHUNK_LINES), (CHUNK_LINES + 1, 2 * CHUNK_LINES), (101, 120)]
    assert "".join(Chunk.objects.order_by("start_line").values_list("text", flat=True)) == "".join(
        lines
    )


def test_progress_is_reported_at_the_ends_and_at_most_every_interval(repository, monkeypatch):
    from indexing import indexer

    total = len(SAMPLES)
    reports = []
    monkeypatch.setattr(indexer, "PROGRESS_SECONDS", 3600)
    Indexer(repository, progress=lambda *report: reports.append(report)).run()
    # Walking (the total unknown), starting, done: a quick job writes nothing in between.
    assert reports == [("text", 0, 0), ("text", 0, total), ("text", total, total)]

    reports.clear()
    monkeypatch.setattr(indexer, "PROGRESS_SECONDS", 0)
    Indexer(repository, progress=lambda *report: reports.append(report)).run()
    assert reports == [
        ("text", 0, 0),
        ("text", 0, total),
        *(("text", done, total) for done in range(1, total + 1)),
        ("text", total, total),
    ]


def test_binary_bad_encoding_and_unreadable_files(repository, sample_repo):
    write_repo(
        sample_repo,
        {"logo.png": b"\x89PNG\r\n\x1a\n\x00\x00", "latin1.txt": "caf\xe9".encode("latin-1")},
    )
    unreadable = sample_repo / "locked.py"
    unreadable.write_text("x = 1\n")
    os.chmod(unreadable, 0)
    try:
        result = index_repository(repository)
    finally:
        os.chmod(unreadable, 0o644)
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons["latin1.txt"] == "not UTF-8 text"
    paths = set(visible(repository).values_list("path", flat=True))
    assert "logo.png" not in paths and "latin1.txt" not in paths
    if os.geteuid() != 0:
        assert reasons["locked.py"].startswith("unreadable")
    assert len(paths) >= len(SAMPLES)


def test_incremental_reads_only_changed_files(repository, sample_repo):
    index_repository(repository)
    first_generation = visible(repository).first().added_in
    unchanged_ids = set(
        visible(repository).exclude(path="app/models.py").values_list("pk", flat=True)
    )

    touch_later(sample_repo / "app" / "models.py", "class Renamed:\n    pass\n")
    result = index_repository(repository)
    assert (result.added, result.changed, result.removed) == (0, 1, 0)
    assert result.unchanged == len(SAMPLES) - 1
    # Unchanged files keep their rows; the changed one has a new row.
    assert unchanged_ids <= set(visible(repository).values_list("pk", flat=True))
    assert symbols_of(repository, "app/models.py") == {("Renamed", "class", "")}
    assert visible(repository).get(path="app/models.py").added_in > first_generation
    # Old versions are gone from the database, not just hidden.
    assert IndexedFile.objects.filter(repository=repository, path="app/models.py").count() == 1


def test_a_touched_file_with_the_same_content_is_not_rewritten(repository, sample_repo):
    index_repository(repository)
    target = sample_repo / "app" / "models.py"
    before = visible(repository).get(path="app/models.py")
    touch_later(target, target.read_text())
    result = index_repository(repository)
    assert result.changed == 0 and result.unchanged == len(SAMPLES)
    after = visible(repository).get(path="app/models.py")
    assert after.pk == before.pk and after.mtime_ns != before.mtime_ns


def test_a_crash_half_way_leaves_the_previous_index_searchable(repository, sample_repo):
    index_repository(repository)
    before = set(visible(repository).values_list("path", "content_hash"))
    for name in ("app/models.py", "cmd/main.go"):
        touch_later(sample_repo / name, "// rewritten\n")
    os.remove(sample_repo / "README.md")

    class Killed(Exception):
        pass

    def die_after_writing(phase, done, total):
        if total and done == total:  # everything written, nothing published yet
            raise Killed

    with pytest.raises(Killed):
        Indexer(repository, progress=die_after_writing).run()
    # Half-written rows exist, but nobody sees them.
    assert set(visible(repository).values_list("path", "content_hash")) == before
    assert IndexedFile.objects.filter(repository=repository).count() > len(before)

    result = index_repository(repository)  # the retry cleans up and finishes
    assert (result.changed, result.removed) == (2, 1)
    paths = set(visible(repository).values_list("path", flat=True))
    assert "README.md" not in paths
    assert IndexedFile.objects.filter(repository=repository).count() == len(paths)


def test_counts_per_language(repository):
    index_repository(repository)
    repository.refresh_from_db()
    assert repository.file_count == len(SAMPLES)
    assert repository.byte_count == sum(len(text.encode()) for text in SAMPLES.values())
    assert repository.symbol_counts["Python"] == 3
    assert repository.state == "ready" and repository.last_indexed_at


def test_a_nul_byte_anywhere_makes_a_file_binary(repository, sample_repo):
    (sample_repo / "late_nul.txt").write_bytes(b"a" * 20000 + b"\x00" + b"b")
    index_repository(repository)
    assert not visible(repository).filter(path="late_nul.txt").exists()


def test_a_rewrite_that_keeps_size_and_mtime_is_still_seen(repository, sample_repo):
    """cp -p / rsync -t keep the mtime; the inode and ctime still move."""
    index_repository(repository)
    target = sample_repo / "app" / "models.py"
    original = target.stat()
    replacement = sample_repo / "replacement.tmp"
    replacement.write_text(target.read_text().replace("Invoice", "Receipt"))
    os.utime(replacement, ns=(original.st_atime_ns, original.st_mtime_ns))
    os.replace(replacement, target)
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (
        original.st_size,
        original.st_mtime_ns,
    )
    result = index_repository(repository)
    assert result.changed == 1
    assert ("Receipt", "class", "") in symbols_of(repository, "app/models.py")


def test_switching_a_plugin_reparses_files_that_did_not_change(repository):
    from indexing import services

    index_repository(repository)
    assert symbols_of(repository, "app/models.py")
    services.plugin_set_enabled(name="python", enabled=False)
    result = index_repository(repository)
    assert result.changed == 1 and not symbols_of(repository, "app/models.py")
    services.plugin_set_enabled(name="python", enabled=True)
    index_repository(repository)
    assert symbols_of(repository, "app/models.py")


def test_a_hostile_file_cannot_make_symbol_extraction_blow_up(roots):
    import time

    from indexing.plugins import MAX_SYMBOLS_PER_FILE

    nested = "function f() {\n" * 3000 + "}\n" * 3000
    many = "".join(f"function f{n}() {{}}\n" for n in range(MAX_SYMBOLS_PER_FILE + 500))
    repo = write_repo(roots / "hostile", {"nested.js": nested, "many.js": many})
    repository = Repository.objects.create(name="hostile", path=str(repo))
    started = time.monotonic()
    index_repository(repository)
    assert time.monotonic() - started < 20
    assert Symbol.objects.filter(file__path="many.js").count() == MAX_SYMBOLS_PER_FILE


def test_losing_the_lease_stops_the_job_before_it_publishes(repository, sample_repo):
    from indexing.indexer import LeaseLost

    Repository.objects.filter(pk=repository.pk).update(lease_job=1)
    index_repository(repository, lease_job=1)
    before = set(visible(repository).values_list("path", "content_hash"))
    touch_later(sample_repo / "app" / "models.py", "x = 2\n")

    def steal(phase, done, total):
        if total and done == total:
            Repository.objects.filter(pk=repository.pk).update(lease_job=2)

    repository.refresh_from_db()
    with pytest.raises(LeaseLost):
        Indexer(repository, progress=steal, lease_job=1).run()
    assert set(visible(repository).values_list("path", "content_hash")) == before


@pytest.mark.django_db
def test_visible_at_sql_shows_the_rows_visible_at_does(tmp_path, settings):
    """search/engine.py reads files with hand-written SQL: the same rule, both databases."""
    from django.db import connection
    from django.db.models import F

    from indexing.models import visible_at_sql

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = Repository.objects.create(name="gens", path=str(tmp_path), generation=2)
    for path, added_in, removed_in in [
        ("old", 1, 2), ("live", 1, None), ("new", 2, None), ("later", 3, None), ("gone", 2, 3)
    ]:  # fmt: skip
        IndexedFile.objects.create(
            repository=repo, path=path, size=0, mtime_ns=0, content_hash="",
            added_in=added_in, removed_in=removed_in,
        )  # fmt: skip
    orm = set(
        IndexedFile.objects.filter(visible_at(F("repository__generation"))).values_list(
            "path", flat=True
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.path FROM indexing_indexedfile f JOIN indexing_repository r "  # noqa: S608
            f"ON r.id = f.repository_id WHERE {visible_at_sql('f', 'r')}"
        )
        raw = {row[0] for row in cursor.fetchall()}
    assert orm == raw == {"live", "new", "gone"}


def _files_on_disk(root) -> int:
    """Every file under `root` as a walk meets it: regular files and symlinks alike."""
    return sum(len(files) for _, _, files in os.walk(root))


def _adds_up(stats: dict) -> bool:
    left_out = stats["binary"] + stats["skipped"]
    return stats["files_seen"] == (
        stats["added"] + stats["changed"] + stats["unchanged"] + left_out
    )


def test_every_walked_file_is_counted_once(repository, sample_repo, settings):
    """212 files were reported as "142 added, 0 skipped": the 70 binary ones vanished."""
    settings.MCP_INDEX_MAX_FILE_BYTES = 4096
    write_repo(
        sample_repo,
        {
            "img/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "locale/fr/django.mo": b"\xde\x12\x04\x95\x00\x00\x00\x00",
            "bin/tool": bytes(range(256)),
            "latin1.txt": "caf\xe9".encode("latin-1"),
            "data/huge.csv": "a,b\n" * 2000,  # over the size limit: left out by the walk
        },
    )
    (sample_repo / "link.py").symlink_to(sample_repo / "app" / "models.py")
    on_disk = _files_on_disk(sample_repo)

    stats = index_repository(repository).as_stats()
    assert stats["files_seen"] == on_disk
    assert (stats["added"], stats["binary"], stats["skipped"]) == (len(SAMPLES), 3, 3)
    assert _adds_up(stats), stats
    reasons = {problem["path"]: problem["reason"] for problem in stats["problems"]}
    assert set(reasons) == {"latin1.txt", "data/huge.csv", "link.py"}  # binary is no problem

    # Again, with a change, a new binary file and one text file turned binary.
    touch_later(sample_repo / "app" / "models.py", "class Renamed:\n    pass\n")
    (sample_repo / "img" / "icon.ico").write_bytes(b"\x00\x00\x01\x00")
    (sample_repo / "docs" / "notes.txt").write_bytes(b"now\x00binary")
    stats = index_repository(repository).as_stats()
    assert stats["files_seen"] == on_disk + 1
    assert (stats["changed"], stats["binary"], stats["removed"]) == (1, 5, 1)
    assert stats["unchanged"] == len(SAMPLES) - 2
    assert _adds_up(stats), stats


def test_a_file_whose_symbols_fail_is_indexed_and_counted_once(repository, monkeypatch):
    """A grammar that raises is a problem worth reporting, not a file left out."""
    from indexing import plugins

    python = plugins.registry()["python"]

    def broken(data):
        raise RuntimeError("grammar bug")

    monkeypatch.setattr(python, "symbols", broken)
    stats = index_repository(repository).as_stats()
    assert (stats["added"], stats["skipped"], stats["binary"]) == (len(SAMPLES), 0, 0)
    assert _adds_up(stats)
    assert {"path": "app/models.py", "reason": "symbols not extracted: grammar bug"} in stats[
        "problems"
    ]
