"""/api/search, /api/symbols, /api/repositories/{id}/file (mcp:search:code), and
/api/search/semantic (mcp:search:semantic). Each call takes one of the caller's
MCP_TOOL_CALLS_PER_MINUTE, the budget the MCP tools share."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.throttling import CallRateThrottle
from search import responses, results_cache
from search.serializers import (
    FileQuerySerializer,
    SearchQuerySerializer,
    SemanticQuerySerializer,
    SymbolQuerySerializer,
)


def _remembered(kind: str, params: dict, compute) -> Response:
    return Response(results_cache.remembered(kind, params, compute))


class SearchView(APIView):
    throttle_classes = [CallRateThrottle]
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(parameters=[SearchQuerySerializer], tags=["search"])
    def get(self, request):
        # DRF's ListField reads repeated parameters (?repo=a&repo=b) from the QueryDict itself.
        params = responses.validated(SearchQuerySerializer, request.query_params)
        return _remembered("search", params, lambda: responses.search_response(params))


class SymbolSearchView(APIView):
    throttle_classes = [CallRateThrottle]
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(parameters=[SymbolQuerySerializer], tags=["search"])
    def get(self, request):
        params = responses.validated(SymbolQuerySerializer, request.query_params)
        return _remembered("symbols", params, lambda: responses.symbols_response(params))


class FileView(APIView):
    throttle_classes = [CallRateThrottle]
    required_scopes = [scopes.SEARCH_CODE]

    @extend_schema(
        parameters=[FileQuerySerializer, OpenApiParameter("repository_id", int, "path")],
        tags=["search"],
    )
    def get(self, request, repository_id: int):
        params = responses.validated(FileQuerySerializer, request.query_params)
        return Response(responses.file_response(repository_id=repository_id, params=params))


class SemanticSearchView(APIView):
    throttle_classes = [CallRateThrottle]
    required_scopes = [scopes.SEARCH_SEMANTIC]

    @extend_schema(parameters=[SemanticQuerySerializer], tags=["search"])
    def get(self, request):
        params = responses.validated(SemanticQuerySerializer, request.query_params)
        with_code = scopes.SEARCH_CODE in request.user.scopes
        return _remembered(
            "semantic+code" if with_code else "semantic",  # hybrid answers differ by scope
            params,
            lambda: responses.semantic_response(params, with_code=with_code),
        )
