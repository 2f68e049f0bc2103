"""Indexing one repository: walk, read what changed, parse, write a new generation.

Only files whose (size, mtime) changed are read again; of those, only files
whose content hash changed get new rows. Everything is written beside the
live generation and made visible by one short transaction at the end (see
indexing.models), so searches never see a half-built index, and a crash
leaves the previous one in place.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from indexing import maintenance, plugins
from indexing.embeddings import EmbedResult, SemanticUnavailable, embed_repository
from indexing.models import (
    Chunk,
    IndexedFile,
    IndexJob,
    PluginSetting,
    Repository,
    Symbol,
    visible_at,
)
from indexing.signals import index_changed
from indexing.walker import Candidate, Skipped, looks_binary, read_file, walk

logger = logging.getLogger(__name__)

CHUNK_LINES = 50
BATCH_FILES = 250
BATCH_BYTES = 16 * 1024 * 1024  # written out before the batch holds more than this
# Progress is written to the job row at most this often: by count (every 100 files) it cost
# 36 updates, a tenth of a no-change re-index of the Django tree on PostgreSQL. A phase's
# start (0 done) and end (all done) are always reported.
PROGRESS_SECONDS = 0.5
# What text and symbol search read: kept tidy on PostgreSQL after a job (maintenance.py).
SEARCHED_TABLES = ("indexing_indexedfile", "indexing_chunk", "indexing_symbol")
MAX_REPORTED_PROBLEMS = 100

# (phase, done, total): "text" counts files, "embedding" chunks. Each phase reports 0 done
# when its work begins (with total 0 while it is still counting: walking, loading the
# model), then as it goes, then total done.
Progress = Callable[[str, int, int], None]
TEXT, EMBEDDING = IndexJob.Phase.TEXT.value, IndexJob.Phase.EMBEDDING.value


@dataclass
class IndexResult:
    """What a job did. Every file the walk met is counted exactly once:
    files_seen == added + changed + unchanged + binary + len(skipped)
    (a folder the walk could not enter, or a symlink, counts as one skipped entry)."""

    files_seen: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0  # indexed before, gone now (not part of files_seen)
    unchanged: int = 0
    binary: int = 0  # left out on purpose: not text (a NUL byte in it)
    skipped: list[Skipped] = field(default_factory=list)  # left out: why, per file
    # Indexed, but with something to report (symbols a grammar could not extract).
    notes: list[Skipped] = field(default_factory=list)
    generation: int = 0
    semantic: EmbedResult = field(default_factory=EmbedResult)

    def as_stats(self) -> dict:
        problems = (self.skipped + self.notes)[:MAX_REPORTED_PROBLEMS]
        return {
            "semantic": self.semantic.as_stats(),
            "files_seen": self.files_seen,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "binary": self.binary,
            "skipped": len(self.skipped),
            "problems": [{"path": s.path, "reason": s.reason} for s in problems],
        }


def enabled_plugins() -> set[str]:
    disabled = set(PluginSetting.objects.filter(enabled=False).values_list("name", flat=True))
    return set(plugins.registry()) - disabled


def _chunks(lines: list[str]) -> list[tuple[int, int, str]]:
    return [
        (
            start + 1,
            min(start + CHUNK_LINES, len(lines)),
            "".join(lines[start : start + CHUNK_LINES]),
        )
        for start in range(0, len(lines), CHUNK_LINES)
    ]


@dataclass
class _Parsed:
    candidate: Candidate
    content_hash: str
    language: str
    lines: list[str]
    symbols: list[plugins.Symbol]


def search_name(name: str) -> str:
    return name.replace("_", "").lower()


def _language_for(path: str, by_extension) -> str:
    plugin = by_extension.get(_extension(path))
    return plugin.language if plugin else ""


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _parse(
    candidate: Candidate, data: bytes, text: str, by_extension, result: IndexResult
) -> _Parsed:
    plugin = by_extension.get(_extension(candidate.path))
    symbols: list[plugins.Symbol] = []
    if plugin is not None:
        try:
            symbols = plugin.symbols(data)
        except Exception as exc:  # a grammar bug must not fail the job
            result.notes.append(Skipped(candidate.path, f"symbols not extracted: {exc}"))
    return _Parsed(
        candidate=candidate,
        content_hash=hashlib.blake2b(data, digest_size=16).hexdigest(),
        language=plugin.language if plugin else "",
        lines=text.splitlines(keepends=True),
        symbols=symbols,
    )


class LeaseLost(Exception):
    """Another job took the repository over: stop without touching anything more."""


class Indexer:
    def __init__(
        self,
        repository: Repository,
        *,
        progress: Progress | None = None,
        lease_job: int | None = None,
        semantic: bool = True,
    ):
        self.repository = repository
        self.progress = progress or (lambda phase, done, total: None)
        # False: leave embedding out of this run (the repository's setting is unchanged;
        # the next run embeds what this one left).
        self.semantic = semantic
        # The job whose lease this indexer writes under (None: the caller holds the
        # repository some other way, as tests and benchmarks do).
        self.lease_job = lease_job
        self.live = repository.generation
        self.next = repository.generation + 1
        self.result = IndexResult(generation=self.live)
        self.dropped: set[str] = set()  # candidates that turned out not to be indexable
        self._renewed_at = 0.0
        self._next_progress = 0.0

    def renew_lease(self, *, force: bool = False) -> None:
        """Keep the lease alive (every couple of seconds); stop if it was lost."""
        if self.lease_job is None or (not force and time.monotonic() - self._renewed_at < 2):
            return
        held = Repository.objects.filter(pk=self.repository.pk, lease_job=self.lease_job).update(
            lease_until=timezone.now() + timedelta(seconds=settings.MCP_INDEX_LEASE_SECONDS)
        )
        if not held:
            raise LeaseLost("Another job took over this repository.")
        self._renewed_at = time.monotonic()

    def report(self, phase: str, done: int, total: int, *, force: bool = False) -> None:
        """Pass progress on, at most every PROGRESS_SECONDS unless forced."""
        now = time.monotonic()
        if force or now >= self._next_progress:
            self.progress(phase, done, total)
            self._next_progress = now + PROGRESS_SECONDS

    def run(self) -> IndexResult:
        self.renew_lease(force=True)
        self.report(TEXT, 0, 0, force=True)  # walking: the total is not known yet
        self._clear_unfinished()
        candidates, skipped = walk(
            self.repository.path, max_bytes=settings.MCP_INDEX_MAX_FILE_BYTES
        )
        if len(candidates) > settings.MCP_INDEX_MAX_FILES:
            raise ValueError(
                f"The repository has {len(candidates)} files; the limit is "
                f"{settings.MCP_INDEX_MAX_FILES} (MCP_INDEX_MAX_FILES)."
            )
        # What the walk left out (too large, symlinks, unreadable) was seen too.
        self.result.skipped.extend(skipped)
        self.result.files_seen = len(candidates) + len(skipped)
        by_extension = plugins.by_extension(enabled_plugins())
        existing = {
            row[1]: row
            for row in IndexedFile.objects.filter(
                visible_at(self.live), repository=self.repository
            ).values_list(
                "pk", "path", "size", "mtime_ns", "ctime_ns", "inode", "content_hash", "language"
            )
        }
        total = len(candidates)
        self.report(TEXT, 0, total, force=True)

        pending: list[_Parsed] = []
        pending_bytes = 0
        replaced: list[int] = []
        touched: list[IndexedFile] = []  # same content, new file metadata
        for done, candidate in enumerate(candidates, start=1):
            known = existing.get(candidate.path)
            language = _language_for(candidate.path, by_extension)
            if (
                known
                and known[2:6]
                == (candidate.size, candidate.mtime_ns, candidate.ctime_ns, candidate.inode)
                and known[7] == language
            ):
                self.result.unchanged += 1
            else:
                parsed = self._read(candidate, by_extension)
                if parsed is None:
                    self.dropped.add(candidate.path)
                elif known and known[6] == parsed.content_hash and known[7] == parsed.language:
                    self.result.unchanged += 1
                    touched.append(
                        IndexedFile(
                            pk=known[0],
                            size=candidate.size,
                            mtime_ns=candidate.mtime_ns,
                            ctime_ns=candidate.ctime_ns,
                            inode=candidate.inode,
                        )
                    )
                else:
                    pending.append(parsed)
                    pending_bytes += candidate.size
                    if known:
                        replaced.append(known[0])
                        self.result.changed += 1
                    else:
                        self.result.added += 1
            if len(pending) >= BATCH_FILES or pending_bytes >= BATCH_BYTES:
                self._write(pending, replaced)
                pending, replaced, pending_bytes = [], [], 0
            self.report(TEXT, done, total)
            self.renew_lease()
        # Gone from disk, or no longer indexable (unreadable, binary, too large,
        # not UTF-8): the old version must not stay searchable.
        keep = {candidate.path for candidate in candidates} - self.dropped
        gone = [row[0] for path, row in existing.items() if path not in keep]
        self.result.removed = len(gone)
        self._write(pending, replaced + gone)
        IndexedFile.objects.bulk_update(
            touched, ["size", "mtime_ns", "ctime_ns", "inode"], batch_size=1000
        )
        self.report(TEXT, total, total, force=True)
        written = self.result.added + self.result.changed + self.result.removed
        if written:
            self._publish()
            # After the switch, which it would delay (about 20 ms for one changed file):
            # searches read the few entries a small job left pending at little cost.
            maintenance.gin_pending_lists_flush(tables=SEARCHED_TABLES)
            maintenance.analyze_after_write(
                tables=SEARCHED_TABLES, measured_by="indexing_indexedfile", rows_written=written
            )
        self.result.generation = self.repository.generation
        if not self.semantic:
            self.result.semantic = EmbedResult(note="embedding was skipped for this run")
            return self.result
        try:
            self.result.semantic = embed_repository(
                self.repository, keep_going=self.renew_lease, progress=self._embedding_progress
            )
        except SemanticUnavailable as exc:  # e.g. weights that fail their checksum
            self.result.semantic = EmbedResult(note=str(exc))
        return self.result

    def _embedding_progress(self, done: int, total: int) -> None:
        self.report(EMBEDDING, done, total, force=done == 0 or done >= total)

    def _clear_unfinished(self) -> None:
        """Rows nobody can see: left by a job that died before publishing (added_in >
        live), or replaced rows a job died before deleting (removed_in <= live)."""
        files = IndexedFile.objects.filter(repository=self.repository)
        invisible = list(
            (
                files.filter(added_in__gt=self.live) | files.filter(removed_in__lte=self.live)
            ).values_list("pk", flat=True)
        )
        if invisible:
            Chunk.objects.filter(file_id__in=invisible).delete()
            Symbol.objects.filter(file_id__in=invisible).delete()
            IndexedFile.objects.filter(pk__in=invisible).delete()
        files.filter(removed_in__gt=self.live).update(removed_in=None)

    def _read(self, candidate: Candidate, by_extension) -> _Parsed | None:
        try:
            data = read_file(candidate, settings.MCP_INDEX_MAX_FILE_BYTES)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.result.skipped.append(Skipped(candidate.path, f"unreadable: {reason}"))
            return None
        if len(data) > settings.MCP_INDEX_MAX_FILE_BYTES:
            self.result.skipped.append(Skipped(candidate.path, "grew over the size limit"))
            return None
        if looks_binary(data):
            self.result.binary += 1  # not text: counted, not reported as a problem
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.result.skipped.append(Skipped(candidate.path, "not UTF-8 text"))
            return None
        return _parse(candidate, data, text, by_extension, self.result)

    def _write(self, parsed: list[_Parsed], retire: list[int]) -> None:
        if not parsed and not retire:
            return
        self.renew_lease(force=True)
        with transaction.atomic():
            if retire:
                IndexedFile.objects.filter(pk__in=retire).update(removed_in=self.next)
            if not parsed:
                return
            rows = IndexedFile.objects.bulk_create(
                [
                    IndexedFile(
                        repository=self.repository,
                        path=p.candidate.path,
                        language=p.language,
                        size=p.candidate.size,
                        mtime_ns=p.candidate.mtime_ns,
                        ctime_ns=p.candidate.ctime_ns,
                        inode=p.candidate.inode,
                        content_hash=p.content_hash,
                        line_count=len(p.lines),
                        added_in=self.next,
                    )
                    for p in parsed
                ]
            )
            Chunk.objects.bulk_create(
                [
                    Chunk(file_id=row.pk, start_line=start, end_line=end, text=text)
                    for row, p in zip(rows, parsed, strict=True)
                    for start, end, text in _chunks(p.lines)
                ],
                batch_size=2000,
            )
            Symbol.objects.bulk_create(
                [
                    Symbol(
                        file_id=row.pk,
                        name=s.name[:255],
                        search_name=search_name(s.name)[:255],
                        kind=s.kind,
                        start_line=s.start_line,
                        end_line=s.end_line,
                        signature=s.signature,
                        parent=s.parent[:255],
                    )
                    for row, p in zip(rows, parsed, strict=True)
                    for s in p.symbols
                ],
                batch_size=2000,
            )

    def _publish(self) -> None:
        """Make the new generation the live one, in one short transaction, only if
        this job still holds the repository and nobody published meanwhile."""
        with transaction.atomic():
            switch = Repository.objects.filter(pk=self.repository.pk, generation=self.live)
            if self.lease_job is not None:
                switch = switch.filter(lease_job=self.lease_job)
            if not switch.update(generation=self.next):
                raise LeaseLost("Another job took over this repository before it finished.")
            self.repository.generation = self.next
            transaction.on_commit(lambda: index_changed.send(sender=Repository))
        # Old versions are invisible now; clear them out.
        old = IndexedFile.objects.filter(repository=self.repository, removed_in__lte=self.next)
        Chunk.objects.filter(file__in=old).delete()
        Symbol.objects.filter(file__in=old).delete()
        old.delete()


def repository_counts(repository: Repository) -> dict:
    files = IndexedFile.objects.filter(visible_at(repository.generation), repository=repository)
    totals = files.aggregate(count=Count("pk"), size=Sum("size"))
    per_language = (
        Symbol.objects.filter(
            visible_at(repository.generation, "file__"), file__repository=repository
        )
        .values("file__language")
        .annotate(count=Count("pk"))
    )
    return {
        "file_count": totals["count"] or 0,
        "byte_count": totals["size"] or 0,
        "symbol_counts": {row["file__language"]: row["count"] for row in per_language},
    }


def index_repository(repository: Repository, **kwargs) -> IndexResult:
    started = time.monotonic()
    result = Indexer(repository, **kwargs).run()
    counts = repository_counts(repository)
    Repository.objects.filter(pk=repository.pk).update(
        state=Repository.State.READY, last_indexed_at=timezone.now(), **counts
    )
    logger.info(
        "indexed %s: %d files, +%d ~%d -%d in %.2fs",
        repository.name,
        result.files_seen,
        result.added,
        result.changed,
        result.removed,
        time.monotonic() - started,
    )
    return result
