"""The JSON the search endpoints answer with, built from validated parameters.

Shared by the REST views (search/views.py) and the MCP tools (mcpserver/mcp/tools.py),
so both say the same thing and refuse the same input the same way (DRF
ValidationError / NotFound, which each caller turns into its own error shape).
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError

from search import engine, selectors
from search.serializers import MAX_SYMBOL_LIMIT

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
        raise ValidationError({exc.field: [str(exc)]}) from None
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
    # One more than shown: whether there were more matches than the limit.
    ranked = selectors.symbol_search(
        q=params["q"],
        kinds=params["kind"],
        language=params.get("lang"),
        repositories=_repositories(params["repo"]),
        limit=params["limit"] + 1,
    )
    truncated = len(ranked) > params["limit"]
    ranked = ranked[: params["limit"]]
    response = {
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
        ],
        "truncated": truncated,
    }
    if truncated:
        response["message"] = (
            f"More symbols match than the {params['limit']} shown, best first: raise limit "
            f"(up to {MAX_SYMBOL_LIMIT}) or narrow the search with kind, lang or repo."
        )
    return response


def file_response(*, repository_id: int, params: dict) -> dict:
    indexed = selectors.file_get(repository_id=repository_id, path=params["path"])
    if indexed is None:
        raise NotFound("No such file in the index of this repository.")
    start = params.get("start", 1)
    if start > max(indexed.line_count, 1):
        raise ValidationError(
            {
                "start": [
                    f"Line {start} is past the end of {indexed.path}, which has "
                    f"{indexed.line_count} line{'' if indexed.line_count == 1 else 's'}."
                ]
            }
        )
    # A range that runs past the end is cut at the end (end_line says where).
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


def semantic_response(params: dict, *, with_code: bool) -> dict:
    """`with_code`: the caller may also search code (mcp:search:code), which is what
    hybrid mode's literal and symbol matches are; without it hybrid is semantic only."""
    from indexing.embeddings import INSTALL_HINT, SemanticUnavailable, model_spec

    try:
        spec = model_spec()
        try:
            # Imported only now: a plain install (without the semantic extra) has no numpy.
            from search import semantic
        except ImportError:
            raise SemanticUnavailable(INSTALL_HINT) from None
        repositories = _repositories(params["repo"])
        arguments = {
            "q": params["q"],
            "repositories": repositories,
            "language": params.get("lang"),
            "limit": params["limit"],
        }
        if params["mode"] == "hybrid":
            hits = semantic.hybrid_hits(**arguments, with_code=with_code)
        else:
            hits = semantic.semantic_hits(**arguments)
    except SemanticUnavailable as exc:
        raise SemanticSearchUnavailable(str(exc)) from None
    response = {"mode": params["mode"], "model": spec.model_id}
    if params["mode"] == "hybrid" and not with_code:
        response["message"] = (
            "Semantic matches only: literal and symbol matches need mcp:search:code."
        )
    return {**response, "hits": [hit.as_dict() for hit in hits]}
