"""/api/search, /api/symbols, /api/repositories/{id}/file (mcp:search:code)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from search import engine, results_cache, selectors
from search.serializers import FileQuerySerializer, SearchQuerySerializer, SymbolQuerySerializer


def _query_params(request, serializer_class):
    # DRF's ListField reads repeated parameters (?repo=a&repo=b) from the QueryDict itself.
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _remembered(request, kind: str, compute) -> Response:
    return Response(results_cache.remembered(kind, list(request.query_params.lists()), compute))


def _repositories(values) -> list[int]:
    try:
        return engine.resolve_repositories(values)
    except engine.SearchError as exc:
        raise ValidationError({"repo": [str(exc)]}) from None


class SearchView(APIView):
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(parameters=[SearchQuerySerializer], tags=["search"])
    def get(self, request):
        params = _query_params(request, SearchQuerySerializer)
        return _remembered(request, "search", lambda: self.search(params))

    def search(self, params) -> dict:
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


class SymbolSearchView(APIView):
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(parameters=[SymbolQuerySerializer], tags=["search"])
    def get(self, request):
        params = _query_params(request, SymbolQuerySerializer)
        if not any(char.isalnum() for char in params["q"]):
            raise ValidationError({"q": ["Give a name with at least one letter or digit."]})
        return _remembered(request, "symbols", lambda: self.search(params))

    def search(self, params) -> dict:
        ranked = selectors.symbol_search(
            q=params["q"],
            kinds=params["kind"],
            language=params.get("lang"),
            repositories=_repositories(params["repo"]),
            limit=params["limit"],
        )
        match_names = {0: "exact", 1: "exact", 2: "prefix"}
        return {
            "symbols": [
                {
                    "name": symbol.name,
                    "kind": symbol.kind,
                    "parent": symbol.parent,
                    "signature": symbol.signature,
                    "repository": {
                        "id": symbol.file.repository_id,
                        "name": symbol.file.repository.name,
                    },
                    "path": symbol.file.path,
                    "language": symbol.file.language,
                    "start_line": symbol.start_line,
                    "end_line": symbol.end_line,
                    "match": match_names.get(rank, "fuzzy"),
                }
                for rank, symbol in ranked
            ]
        }


class FileView(APIView):
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(
        parameters=[FileQuerySerializer, OpenApiParameter("repository_id", int, "path")],
        tags=["search"],
    )
    def get(self, request, repository_id: int):
        params = _query_params(request, FileQuerySerializer)
        indexed = selectors.file_get(repository_id=repository_id, path=params["path"])
        if indexed is None:
            raise NotFound("No such file in the index of this repository.")
        start = params.get("start", 1)
        end = min(params.get("end", indexed.line_count), indexed.line_count)
        lines = selectors.file_lines(indexed_file=indexed, start=start, end=end)
        return Response(
            {
                "repository": {"id": indexed.repository_id, "name": indexed.repository.name},
                "path": indexed.path,
                "language": indexed.language,
                "total_lines": indexed.line_count,
                "start_line": start,
                "end_line": start + len(lines) - 1 if lines else start - 1,
                "content": "".join(lines),
            }
        )
