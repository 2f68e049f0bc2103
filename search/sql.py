"""Plain-SQL pieces shared by text search (engine) and symbol lookup (selectors).

Their per-request queries are written by hand: building each with the ORM took about
1 ms, longer than running it. Only placeholders and fixed column names are formatted
into these strings; every value travels as a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from indexing.models import visible_at_sql

# (path, language, repository_id, repository name) of a visible file, by its id.
FileInfo = tuple[str, str, int, str]


def in_list(column: str, values: Iterable) -> tuple[str, list]:
    """`column` among `values`, and its parameters: one array on PostgreSQL (planned
    faster than one literal per value), IN (...) on SQLite."""
    values = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def file_conditions(
    alias: str, repository_alias: str, *, repositories: list[int], language: str | None
) -> tuple[list[str], list]:
    """The conditions that keep a file row: visible in its repository's live generation,
    in `repositories` and in `language` when given."""
    conditions, params = [visible_at_sql(alias, repository_alias)], []
    if repositories:
        where, more = in_list(f"{alias}.repository_id", repositories)
        conditions.append(where)
        params += more
    if language:
        conditions.append(f"lower({alias}.language) = lower(%s)")
        params.append(language)
    return conditions, params


def visible_files(
    file_ids: Iterable[int], *, repositories: list[int], language: str | None
) -> dict[int, FileInfo]:
    """Of these files, the ones a search may show (file_conditions), by id."""
    file_ids = set(file_ids)
    if not file_ids:
        return {}
    where, params = in_list("f.id", file_ids)
    conditions, more = file_conditions("f", "r", repositories=repositories, language=language)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.id, f.path, f.language, f.repository_id, r.name "  # noqa: S608
            "FROM indexing_indexedfile f JOIN indexing_repository r ON r.id = f.repository_id "
            f"WHERE {' AND '.join([where, *conditions])}",
            params + more,
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}
