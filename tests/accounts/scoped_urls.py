"""Views that exist only in tests, to exercise HasScopes over real requests."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from mcpserver import urls as project_urls


class RequiresIndexCreate(APIView):
    required_scopes = ["mcp:index:create"]

    def get(self, request):
        return Response({"ok": True})


class RequiresBoth(APIView):
    required_scopes = ["mcp:search:code", "mcp:user:manage"]

    def get(self, request):
        return Response({"ok": True})


class RequiresAnyIndexScope(APIView):
    any_scopes = ["mcp:search:code", "mcp:index:create"]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("index-create", RequiresIndexCreate.as_view()),
    path("both", RequiresBoth.as_view()),
    path("any", RequiresAnyIndexScope.as_view()),
    *project_urls.urlpatterns,
]
