"""The JSON the search endpoints answer with, built from validated parameters.

Shared by the REST views (search/views.py) and the MCP tools (mcpserver/mcp/tools.py),
so both say the same thing and refuse the same input the same way (DRF
ValidationError / NotFound, which each caller turns into its own error shape).
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError

from search import engine, selectors

SYMBOL_MATCH_NAMES = {0: "exact", 1: "exact", 2: "prefix"}


class SemanticSearchUnavailable(APIException):
    """The semantic extra is not installed, switched off, or its model failed its check."""

    status_code = status.HTTP_501_NOT_IMPLEMENTED
    default_code = "semantic_search_unavailable"


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _repositories(values) -> list[int]:
    try:
        return engine.resolve_repositories(values)
    except engine.SearchError as exc:
        raise ValidationError({"repo": [str(exc)]}) from None


def search_response(params: dict) -> dict:
    query = engine.Query(
        q=params["q"],
        regex=params["regex"],
        case=params["case"],
        repositories=_repositories(params["repo"]),
        language=params.get("lang"),
        path_glob=params.get("path"),
        limit=params["limit"],
        cursor=params.get("cursor"),
    )
    try:
        result = engine.search(query)
    except engine.SearchError as exc:
        raise ValidationError({"q": [str(exc)]}) from None
    return {
        "hits": [
            {
                "repository": {"id": hit.repository_id, "name": hit.repository},
                "path": hit.path,
                "line": hit.line,
                "text": hit.text,
                "before": hit.before,
                "after": hit.after,
                "language": hit.language,
            }
            for hit in result.hits
        ],
        "files_matched": result.files_matched,
        "truncated": result.truncated,
        "next_cursor": result.next_cursor,
        "used_index": result.used_index,
        "message": result.message,
    }


def symbols_response(params: dict) -> dict:
    ranked = selectors.symbol_search(
        q=params["q"],
        kinds=params["kind"],
        language=params.get("lang"),
        repositories=_repositories(params["repo"]),
        limit=params["limit"],
    )
    return {
        "symbols": [
            {
                "name": symbol.name,
                "kind": symbol.kind,
                "parent": symbol.parent,
                "signature": symbol.signature,
                "repository": {"id": symbol.repository_id, "name": symbol.repository},
                "path": symbol.path,
                "language": symbol.language,
                "start_line": symbol.start_line,
                "end_line": symbol.end_line,
                "match": SYMBOL_MATCH_NAMES.get(rank, "fuzzy"),
            }
            for rank, symbol in ranked
        ]
    }


def file_response(*, repository_id: int, params: dict) -> dict:
    indexed = selectors.file_get(repository_id=repository_id, path=params["path"])
    if indexed is None:
        raise NotFound("No such file in the index of this repository.")
    start = params.get("start", 1)
    end = min(params.get("end", indexed.line_count), indexed.line_count)
    lines = selectors.file_lines(indexed_file=indexed, start=start, end=end)
    return {
        "repository": {"id": indexed.repository_id, "name": indexed.repository.name},
        "path": indexed.path,
        "language": indexed.language,
        "total_lines": indexed.line_count,
        "start_line": start,
        "end_line": start + len(lines) - 1 if lines else start - 1,
        "content": "".join(lines),
    }


def semantic_response(params: dict) -> dict:
    # Imported here: numpy and the model code are only needed when someone asks.
    from indexing.embeddings import SemanticUnavailable, model_spec
    from search import semantic

    try:
        spec = model_spec()
        repositories = _repositories(params["repo"])
        find = semantic.hybrid_hits if params["mode"] == "hybrid" else semantic.semantic_hits
        hits = find(
            q=params["q"],
            repositories=repositories,
            language=params.get("lang"),
            limit=params["limit"],
        )
    except SemanticUnavailable as exc:
        raise SemanticSearchUnavailable(str(exc)) from None
    return {"mode": params["mode"], "model": spec.model_id, "hits": [hit.as_dict() for hit in hits]}
