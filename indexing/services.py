"""Writes for indexing: registering repositories, queueing and running jobs, plugins."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError

from accounts import audit
from indexing import plugins
from indexing.indexer import LeaseLost, index_repository
from indexing.models import IndexedFile, IndexJob, PluginSetting, Repository, SemanticChunk
from indexing.signals import index_changed
from indexing.walker import WalkError
from mcpserver.datadir import sqlite_file

logger = logging.getLogger(__name__)

ACTIVE_STATES = (IndexJob.State.QUEUED, IndexJob.State.RUNNING)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.extra = extra


@dataclass(frozen=True)
class ProtectedPath:
    path: str  # real path
    kind: str  # data, database, env, excluded, installation
    what: str  # for messages: what it is, never where


PROTECTED_WHAT = {
    "data": "the server's data directory (MCP_DATA_DIR), which holds its secret keys and database",
    "database": "the server's database",
    "env": "the server's .env file, which may hold its secrets",
    "excluded": "a path listed in MCP_INDEX_EXCLUDED_PATHS",
    "installation": "the server's own installation",
}


def protected_paths() -> list[ProtectedPath]:
    """The server's own files, which no repository may be, contain or lie inside.

    Read from the settings on every call: the data directory, each SQLite database
    file, the .env file settings.py loads, MCP_INDEX_EXCLUDED_PATHS and the
    installation (BASE_DIR), all with symlinks resolved.
    """
    base = Path(settings.BASE_DIR)
    found: list[tuple[str | os.PathLike, str]] = [(settings.MCP_DATA_DIR, "data")]
    for database in settings.DATABASES.values():
        if str(database.get("ENGINE", "")).endswith("sqlite3"):
            name = sqlite_file(database.get("NAME"))
            if name:
                found.append((name, "database"))
    found.append((base / ".env", "env"))
    found.extend((path, "excluded") for path in settings.MCP_INDEX_EXCLUDED_PATHS)
    found.append((base, "installation"))
    return [
        ProtectedPath(os.path.realpath(os.fspath(path)), kind, PROTECTED_WHAT[kind])
        for path, kind in found
    ]


def _within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it, by whole path components."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _lineage(path: str) -> list[tuple[int, int]]:
    """The identities of `path`'s folders above it, up to the root."""
    found, current = [], path
    while (parent := os.path.dirname(current)) != current:
        current = parent
        if (identity := _identity(current)) is not None:
            found.append(identity)
    return found


def protected_relation(resolved: str, protected: ProtectedPath) -> str | None:
    """How a folder stands to a protected path: "is", "contains", "lies inside" or None.

    By name and, for what exists, by identity (device and inode): a second name for the
    same folder that realpath leaves alone (another letter case on a case-insensitive
    file system, a bind mount) must not get past the names."""
    own, theirs = _identity(resolved), _identity(protected.path)
    if resolved == protected.path or (own is not None and own == theirs):
        return "is"
    if _within(protected.path, resolved) or (own is not None and own in _lineage(protected.path)):
        return "contains"
    if _within(resolved, protected.path) or (theirs is not None and theirs in _lineage(resolved)):
        return "lies inside"
    return None


class ProtectedPathRefused(ValidationError):
    """The path reaches the server's own files (protected_paths)."""


def _refuse_protected(resolved: str) -> None:
    relations = [
        (protected_relation(resolved, protected), protected) for protected in protected_paths()
    ]
    # "This folder is ..." says the most: before what it contains or lies inside.
    relations.sort(key=lambda pair: pair[0] != "is")
    for relation, protected in relations:
        if relation is None:
            continue
        advice = ""
        if relation == "contains":
            advice = " Index a folder beside it" + (
                ", or ask the operator to move MCP_DATA_DIR out of the index roots."
                if protected.kind == "data"
                else "."
            )
        raise ProtectedPathRefused(
            {
                "repo_path": [
                    f"This folder {relation} {protected.what}: it cannot be indexed (the "
                    f"server never indexes its own files, so that its secrets stay "
                    f"secret).{advice}"
                ]
            }
        )


def repository_path_resolve(raw_path) -> str:
    """The real path of a repository to index, or a 400 that says what to do.

    Symlinks are resolved first, then the result must lie inside one of
    MCP_INDEX_ROOTS (compared by whole path components, so /srv/code-evil is
    not inside /srv/code), and must neither be, contain nor lie inside one of
    the server's own files (`protected_paths`).
    """
    roots = [os.path.realpath(root) for root in settings.MCP_INDEX_ROOTS]
    if not roots:
        raise ValidationError(
            {
                "repo_path": [
                    "No index roots are configured. Set MCP_INDEX_ROOTS to the "
                    "comma-separated folders repositories may be indexed from, and restart."
                ]
            }
        )
    if not isinstance(raw_path, str) or not raw_path or "\x00" in raw_path:
        raise ValidationError({"repo_path": ["Give the repository's absolute path."]})
    if not os.path.isabs(raw_path):
        raise ValidationError({"repo_path": ["The path must be absolute, e.g. /srv/code/project."]})
    if len(raw_path) > 1024:
        raise ValidationError({"repo_path": ["The path is too long."]})
    resolved = os.path.realpath(raw_path)
    if not any(resolved == root or resolved.startswith(root + os.sep) for root in roots):
        raise ValidationError(
            {
                "repo_path": [
                    "The path is outside the index roots ("
                    + ", ".join(roots)
                    + "). Move the repository under one of them, or add its folder to "
                    "MCP_INDEX_ROOTS."
                ]
            }
        )
    _refuse_protected(resolved)
    if not os.path.exists(resolved):
        raise ValidationError({"repo_path": ["Nothing exists at that path."]})
    if not os.path.isdir(resolved):
        raise ValidationError({"repo_path": ["The path is not a directory."]})
    return resolved


def repository_free_name(wanted: str) -> str:
    name, suffix = wanted[:190] or "repository", 2
    candidate = name
    while Repository.objects.filter(name=candidate).exists():
        candidate = f"{name}-{suffix}"
        suffix += 1
    return candidate


def repository_register(
    *, raw_path, name: str | None, user, semantic_enabled: bool = True
) -> tuple[Repository, IndexJob]:
    path = repository_path_resolve(raw_path)
    existing = Repository.objects.filter(path=path).first()
    if existing is not None:
        raise Conflict("This repository is registered already.", repository_id=existing.pk)
    if name and Repository.objects.filter(name=name).exists():
        raise ValidationError({"name": [f"The name {name!r} is taken."]})
    try:
        with transaction.atomic():
            repository = Repository.objects.create(
                name=name or repository_free_name(os.path.basename(path)),
                path=path,
                semantic_enabled=semantic_enabled,
            )
            job = job_enqueue(repository=repository, user=user)
    except IntegrityError:
        # The same path (or name) registered by a request that ran at the same moment.
        existing = Repository.objects.filter(path=path).first()
        if existing is not None:
            raise Conflict(
                "This repository is registered already.", repository_id=existing.pk
            ) from None
        raise ValidationError({"name": ["That name was just taken; choose another."]}) from None
    return repository, job


def job_enqueue(*, repository: Repository, user=None, run_in_background: bool = True) -> IndexJob:
    """Queue an index job; one at a time per repository."""
    with transaction.atomic():
        Repository.objects.select_for_update().filter(pk=repository.pk).first()
        active = repository.jobs.filter(state__in=ACTIVE_STATES).first()
        if active is not None:
            raise Conflict("A job is queued or running for this repository.", job_id=active.pk)
        # `user` may be a User (admin) or a token principal (its pk is the user id).
        user_id = getattr(user, "pk", None)
        job = IndexJob.objects.create(
            repository=repository, requested_by_id=int(user_id) if user_id else None
        )
        Repository.objects.filter(pk=repository.pk).update(last_job=job)
        if run_in_background:
            transaction.on_commit(lambda: _enqueue_task(job.pk))
    return job


def _enqueue_task(job_id: int, *, delay: float = 0) -> None:
    from indexing.tasks import run_index_job

    task = run_index_job
    if delay:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    result = task.enqueue(job_id)
    IndexJob.objects.filter(pk=job_id).update(task_id=str(result.id))


def jobs_reap_stale(*, repository_id: int | None = None) -> int:
    """Mark failed the jobs whose worker stopped: running jobs whose lease ran out, and
    queued jobs whose task a worker took and never started (or that ended without them)."""
    now = timezone.now()
    _reap_orphaned_queued(repository_id, now)
    running = IndexJob.objects.filter(state=IndexJob.State.RUNNING)
    if repository_id is not None:
        running = running.filter(repository_id=repository_id)
    stale = [
        job.pk
        for job in running.select_related("repository")
        if job.repository.lease_job != job.pk
        or job.repository.lease_until is None
        or job.repository.lease_until < now
    ]
    if not stale:
        return 0
    return IndexJob.objects.filter(pk__in=stale, state=IndexJob.State.RUNNING).update(
        state=IndexJob.State.FAILED,
        finished_at=now,
        error="The worker stopped during the job. The previous index is intact; "
        "start a re-index to try again.",
    )


def _reap_orphaned_queued(repository_id: int | None, now) -> None:
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    grace = now - timedelta(seconds=settings.MCP_INDEX_LEASE_SECONDS)
    queued = IndexJob.objects.filter(state=IndexJob.State.QUEUED, created_at__lt=grace).exclude(
        task_id=""
    )
    if repository_id is not None:
        queued = queued.filter(repository_id=repository_id)
    orphaned = []
    for job in queued:
        task = DBTaskResult.objects.filter(pk=job.task_id).only("status", "started_at").first()
        if (
            task is None
            or task.status in (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL)
            or (
                task.status == TaskResultStatus.RUNNING
                and task.started_at
                and task.started_at < grace
            )
        ):
            orphaned.append(job.pk)
    if orphaned:
        IndexJob.objects.filter(pk__in=orphaned, state=IndexJob.State.QUEUED).update(
            state=IndexJob.State.FAILED,
            finished_at=now,
            error="The worker stopped before the job began. Start a re-index to try again.",
        )


def _take_lease(job: IndexJob) -> bool:
    now = timezone.now()
    return bool(
        Repository.objects.filter(pk=job.repository_id)
        .filter(Q(lease_job__isnull=True) | Q(lease_job=job.pk) | Q(lease_until__lt=now))
        .update(
            lease_job=job.pk, lease_until=now + timedelta(seconds=settings.MCP_INDEX_LEASE_SECONDS)
        )
    )


def _release_lease(job: IndexJob) -> None:
    Repository.objects.filter(pk=job.repository_id, lease_job=job.pk).update(
        lease_job=None, lease_until=None
    )


def job_run(
    *, job_id: int, progress=None, requeue: bool = True, semantic: bool = True
) -> IndexJob | None:
    """Run a queued job. Two jobs never write one repository at once: a job that
    finds the repository busy is queued again a little later (or, with
    requeue=False, fails saying so).

    `progress(phase, done, total)` follows each progress write (indexer.Progress);
    semantic=False leaves embedding out of this run only."""
    job = IndexJob.objects.select_related("repository").filter(pk=job_id).first()
    if job is None or job.state != IndexJob.State.QUEUED:
        return None  # deleted with its repository, or already handled
    jobs_reap_stale(repository_id=job.repository_id)
    if not _take_lease(job):
        if requeue:
            _enqueue_task(job.pk, delay=2)
            return None
        _finish(job, IndexJob.State.FAILED, error="Another job is indexing this repository.")
        raise Conflict("Another job is indexing this repository right now.")
    IndexJob.objects.filter(pk=job.pk).update(
        state=IndexJob.State.RUNNING, started_at=timezone.now()
    )

    def report(phase: str, done: int, total: int) -> None:
        # As often as the indexer reports (rate-limited there): one UPDATE of the job row,
        # never of the repository's, whose lease the indexer renews on its own.
        job_progress_save(job_id=job.pk, phase=phase, done=done, total=total)
        if progress is not None:
            progress(phase, done, total)

    try:
        _still_allowed(job.repository)
        result = index_repository(
            job.repository, progress=report, lease_job=job.pk, semantic=semantic
        )
    except Exception as exc:
        if not isinstance(exc, LeaseLost | WalkError | ValidationError):
            logger.exception("index job %s failed", job.pk)
        _finish(job, IndexJob.State.FAILED, error=_describe(exc))
        Repository.objects.filter(pk=job.repository_id, state=Repository.State.NEW).update(
            state=Repository.State.FAILED
        )
        detail = {"error": _describe(exc)[:500]}
        if isinstance(exc, ProtectedPathRefused):
            # Indexed before the server refused its own files: what it holds may be the
            # server's secrets, so nobody may read it any more.
            detail["files_withdrawn"] = _index_withdraw(repository=job.repository)
        _audit_job(job, outcome="failure", detail=detail)
    else:
        stats = result.as_stats()
        if _finish(job, IndexJob.State.SUCCEEDED, stats=stats):
            changes = {key: stats[key] for key in ("added", "changed", "removed")}
            _audit_job(job, outcome="success", detail=changes)
    finally:
        _release_lease(job)
    return IndexJob.objects.filter(pk=job.pk).first()


def job_progress_save(*, job_id: int, phase: str, done: int, total: int) -> None:
    """Record where a running job is. A phase's clock (for its time estimate) starts when
    it reports 0 done; a job no longer running (reaped meanwhile) is left alone."""
    now = timezone.now()
    fields = {"phase": phase, "phase_done": done, "phase_total": total, "progress_at": now}
    if done == 0:
        fields["phase_started_at"] = now
    if phase == IndexJob.Phase.TEXT:
        fields.update(files_done=done, files_total=total)
    IndexJob.objects.filter(pk=job_id, state=IndexJob.State.RUNNING).update(**fields)


def _index_withdraw(*, repository: Repository) -> int:
    """Delete everything indexed for the repository (its registration stays, failed)."""
    with transaction.atomic():
        withdrawn = IndexedFile.objects.filter(repository=repository).count()
        IndexedFile.objects.filter(repository=repository).delete()
        Repository.objects.filter(pk=repository.pk).update(
            state=Repository.State.FAILED, file_count=0, byte_count=0, symbol_counts={}
        )
        transaction.on_commit(lambda: index_changed.send(sender=Repository))
    logger.warning(
        "repository %s reaches the server's own files: its index (%d files) was withdrawn",
        repository.pk,
        withdrawn,
    )
    return withdrawn


def _audit_job(job: IndexJob, *, outcome: str, detail: dict) -> None:
    audit.record(
        audit.REPOSITORY_INDEX,
        outcome=outcome,
        actor=job.requested_by_id,  # the worker has no request: the job says who asked
        target_type="repository",
        target_id=job.repository_id,
        target=job.repository.name,
        detail={"job": job.pk, **detail},
    )


def _finish(job: IndexJob, state: str, **fields) -> bool:
    # Only a job still marked running or queued: one reaped meanwhile stays failed.
    return bool(
        IndexJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES).update(
            state=state, finished_at=timezone.now(), **fields
        )
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        detail = (
            exc.detail.get("repo_path", exc.detail) if isinstance(exc.detail, dict) else exc.detail
        )
        return " ".join(str(part) for part in (detail if isinstance(detail, list) else [detail]))
    if isinstance(exc, LeaseLost | WalkError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]


def _still_allowed(repository: Repository) -> None:
    """The path must still resolve, inside the roots, to what was registered: a
    repository folder replaced by a symlink, or a root taken out of
    MCP_INDEX_ROOTS, stops the job."""
    if repository_path_resolve(repository.path) != repository.path:
        raise ValidationError(
            {"repo_path": ["The repository folder now resolves somewhere else; not indexed."]}
        )


def repository_set_semantic(*, repository: Repository, enabled: bool) -> Repository:
    """Switch semantic search for a repository. Off: its embeddings go at once. On: the
    next indexing job embeds it."""
    with transaction.atomic():
        # Locked: an embedding step writing now must not slip its rows in after the delete.
        Repository.objects.select_for_update().filter(pk=repository.pk).update(
            semantic_enabled=enabled
        )
        repository.semantic_enabled = enabled
        if not enabled:
            files = IndexedFile.objects.filter(repository=repository)
            SemanticChunk.objects.filter(file__in=files).delete()
            files.exclude(embedded_with="").update(embedded_with="")
            transaction.on_commit(lambda: index_changed.send(sender=Repository))
    return repository


def repository_delete(*, repository: Repository) -> None:
    """Remove the repository and everything indexed for it (files on disk are untouched).

    Refused while a job holds the repository: its writes would race the delete.
    """
    jobs_reap_stale(repository_id=repository.pk)
    with transaction.atomic():
        locked = Repository.objects.select_for_update().filter(pk=repository.pk).first()
        if locked is None:
            return
        if (
            locked.lease_job is not None
            and locked.lease_until
            and locked.lease_until > timezone.now()
        ):
            raise Conflict(
                "A job is indexing this repository; delete it when the job ends.",
                job_id=locked.lease_job,
            )
        locked.delete()
        audit.record(
            audit.REPOSITORY_DELETE,
            target_type="repository",
            target_id=repository.pk,
            target=repository.name,
            detail={"path": repository.path},
        )


def plugin_set_enabled(*, name: str, enabled: bool) -> PluginSetting:
    if name not in plugins.registry():
        raise NotFound(f"No plugin named {name!r}.")
    with transaction.atomic():
        was_enabled = (
            PluginSetting.objects.filter(name=name).values_list("enabled", flat=True).first()
        )
        setting, _ = PluginSetting.objects.update_or_create(
            name=name, defaults={"enabled": enabled}
        )
        if (was_enabled if was_enabled is not None else True) == enabled:
            return setting  # no change, nothing to record
        audit.record(
            audit.PLUGIN_ENABLE if enabled else audit.PLUGIN_DISABLE,
            target_type="plugin",
            target_id=name,
            target=name,
        )
    return setting
