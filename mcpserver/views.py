from __future__ import annotations

import logging

from django.core.cache import caches
from django.db import connection
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.conf import auth_settings
from mcpserver.mcp.protocol import SERVER_INFO

logger = logging.getLogger(__name__)


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:
        logger.warning("health: database did not answer: %s", type(exc).__name__)
        return False


def _cache_answers() -> bool:
    cache = caches[auth_settings.CACHE_ALIAS]
    try:
        cache.set("health:probe", 1, 10)
        return cache.get("health:probe") is not None
    except Exception as exc:
        logger.warning("health: cache did not answer: %s", type(exc).__name__)
        return False


class HealthView(APIView):
    """Does the database answer, and the shared cache that holds token revocations?"""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(choices=["ok", "degraded"]),
                    "database": serializers.ChoiceField(choices=["ok", "unavailable"]),
                    "cache": serializers.ChoiceField(choices=["ok", "unavailable"]),
                },
            )
        },
        auth=[],
        tags=["system"],
    )
    def get(self, request):
        database = _database_answers()
        cache = _cache_answers()
        healthy = database and cache
        body = {
            "status": "ok" if healthy else "degraded",
            "database": "ok" if database else "unavailable",
            "cache": "ok" if cache else "unavailable",
        }
        if not cache:
            body["detail"] = "The shared cache is down: authenticated requests answer 503."
        return Response(body, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})


class LandingView(APIView):
    """What this server is and where to go: for a person who opens the bare address, until
    there are pages for people. Public and the same for everyone: nothing secret, no
    credentials needed, and links relative to this host."""

    authentication_classes = []
    permission_classes = [AllowAny]
    # Lasts until the next deployment at most: five minutes keeps a new version visible.
    CACHE_CONTROL = "public, max-age=300"

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Landing",
                {
                    "name": serializers.CharField(),
                    "title": serializers.CharField(),
                    "version": serializers.CharField(),
                    "links": inline_serializer(
                        "LandingLinks",
                        {
                            "api_docs": serializers.CharField(),
                            "openapi": serializers.CharField(),
                            "admin": serializers.CharField(),
                            "mcp": serializers.CharField(),
                            "health": serializers.CharField(),
                        },
                    ),
                },
            )
        },
        auth=[],
        tags=["system"],
    )
    def get(self, request):
        body = {
            # One source: what the MCP handshake reports as serverInfo.
            "name": SERVER_INFO["name"],
            "title": SERVER_INFO["title"],
            "version": SERVER_INFO["version"],
            "links": {
                "api_docs": reverse("docs"),
                "openapi": reverse("schema"),
                "admin": reverse("admin:index"),
                "mcp": reverse("mcp"),
                "health": reverse("health"),
            },
        }
        return Response(body, headers={"Cache-Control": self.CACHE_CONTROL})
