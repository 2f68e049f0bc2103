"""/api/keys (self-service API keys) and /api/audit. Thin: parse, call a service, serialize."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.exceptions import InsufficientScope, InvalidToken
from accounts.permissions import HasScopes, IsUserToken
from accounts.scopes import SYSTEM_CONFIG, USER_MANAGE
from accounts.serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditEventSerializer,
    AuditQuerySerializer,
    ErrorSerializer,
    NewApiKeySerializer,
)


def cursor_page(name: str, serializer_class):
    """The schema of one page of a cursor-paginated list."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


class StrictCursorPagination(CursorPagination):
    """A cursor that does not decode is bad input (400), not a missing page (404)."""

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor: use next or previous."]}) from None


class ApiKeyPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


def _may_manage_others(request) -> bool:
    return USER_MANAGE in request.user.scopes


def _current_user(request):
    user = selectors.user_get(user_id=request.user.id)
    if user is None or not user.is_active:
        raise InvalidToken()
    return user


class ApiKeyListView(APIView):
    permission_classes = [HasScopes, IsUserToken]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "owner", str, description="A username; `*` for everyone (needs mcp:user:manage)."
            )
        ],
        responses={
            200: cursor_page("ApiKeyPage", ApiKeySerializer),
            401: ErrorSerializer,
            403: ErrorSerializer,
        },
        tags=["api keys"],
    )
    def get(self, request):
        viewer = _current_user(request)
        owner = request.query_params.get("owner") or viewer.username
        if owner != viewer.username and not _may_manage_others(request):
            raise InsufficientScope([USER_MANAGE])
        keys = selectors.api_key_list(owner=None if owner == "*" else owner)
        paginator = ApiKeyPagination()
        page = paginator.paginate_queryset(keys, request, view=self)
        return paginator.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: NewApiKeySerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        tags=["api keys"],
    )
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        expires_at = data.get("expires_at")
        if data.get("expires_in_days"):
            expires_at = timezone.now() + timedelta(days=data["expires_in_days"])
        api_key, secret = services.api_key_create(
            user=_current_user(request),
            name=data["name"],
            scopes=data["scopes"],
            expires_at=expires_at,
            within=request.user.scopes,
        )
        body = ApiKeySerializer(api_key).data | {"key": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class ApiKeyDetailView(APIView):
    permission_classes = [HasScopes, IsUserToken]

    def _get_key(self, request, key_id: int):
        keys = selectors.api_key_list(
            owner_id=None if _may_manage_others(request) else request.user.id
        )
        # Someone else's key is "not found", not "forbidden": ids reveal nothing.
        return get_object_or_404(keys, pk=key_id)

    @extend_schema(responses={200: ApiKeySerializer, 404: ErrorSerializer}, tags=["api keys"])
    def get(self, request, key_id: int):
        return Response(ApiKeySerializer(self._get_key(request, key_id)).data)

    @extend_schema(responses={204: None, 404: ErrorSerializer}, tags=["api keys"])
    def delete(self, request, key_id: int):
        services.api_key_revoke(api_key=self._get_key(request, key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "limit"  # validated by AuditQuerySerializer
    max_page_size = 500


class AuditEventListView(APIView):
    """The audit trail, newest first, with filters; `next` and `previous` page by cursor."""

    required_scopes = [SYSTEM_CONFIG]

    @extend_schema(
        parameters=[
            AuditQuerySerializer,
            OpenApiParameter("cursor", str, description="From `next` or `previous`."),
        ],
        responses={200: cursor_page("AuditEventPage", AuditEventSerializer), 400: ErrorSerializer},
        tags=["audit"],
    )
    def get(self, request):
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = selectors.audit_events(params=query.validated_data)
        paginator = AuditPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
