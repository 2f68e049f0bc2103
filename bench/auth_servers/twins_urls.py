"""The product's URLs plus two twin endpoints that differ only in authentication:

- /bench/open: no authentication classes, AllowAny;
- /bench/closed: the project's default authentication and permission classes
  (REST_FRAMEWORK settings: API key, then JWT; HasScopes) and mcp:search:code.

The same tiny JSON body from both, so the difference in cost is what authentication, its
revocation check and the scope check add to a request.
"""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from mcpserver.urls import handler400, handler403, handler404, handler500  # noqa: F401

BODY = {"ok": True}


class OpenTwin(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(BODY)


class ClosedTwin(APIView):
    required_scopes = [scopes.SEARCH_CODE]

    def get(self, request):
        return Response(BODY)


urlpatterns = [
    path("bench/open", OpenTwin.as_view()),
    path("bench/closed", ClosedTwin.as_view()),
    path("", include("mcpserver.urls")),
]
