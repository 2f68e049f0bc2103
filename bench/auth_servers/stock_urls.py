"""The stock server's two endpoints: the same trivial view, behind stock SimpleJWT
(IsAuthenticated, the default) and open (no authentication, AllowAny)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

BODY = {"ok": True}


class Closed(APIView):
    def get(self, request):
        return Response(BODY)


class Open(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(BODY)


urlpatterns = [
    path("stock/closed", Closed.as_view()),
    path("stock/open", Open.as_view()),
]
