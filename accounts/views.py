"""The /auth endpoints. Thin: parse, call a service, serialize."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services, signing, throttling
from accounts.authentication import BearerTokenAuthentication
from accounts.exceptions import BadCredentials, InvalidToken
from accounts.permissions import HasScopes, IsUserToken
from accounts.scopes import ordered
from accounts.serializers import (
    ErrorSerializer,
    LoginSerializer,
    LogoutSerializer,
    PrincipalSerializer,
    RefreshSerializer,
    TokenResponseSerializer,
)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenEndpoint(APIView):
    """Login and refresh take credentials in the body, never a bearer token."""

    authentication_classes = [BearerTokenAuthentication]  # only for the 401 challenge header
    permission_classes = [AllowAny]

    def perform_authentication(self, request) -> None:
        # A stale or garbage Authorization header must not stop a login.
        pass


class LoginView(TokenEndpoint):
    @extend_schema(
        request=LoginSerializer,
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(description="Bad input, or `invalid_scope`"),
            401: ErrorSerializer,
            429: ErrorSerializer,
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        password = serializer.validated_data["password"]

        # ThrottledModelBackend counts the attempt; a refusal (429, or 503
        # when the cache is down) is left on the request.
        user = authenticate(request, username=username, password=password)
        if user is None:
            raise getattr(request, "login_refusal", None) or BadCredentials()

        requested = services.scopes_requested(
            requested=serializer.validated_data.get("scope"), granted=user.scopes
        )
        issued = services.session_start(
            user=user, requested_scopes=requested, client_ip=throttling.client_ip(request)
        )
        return Response(issued.as_response(), headers=NO_STORE)


class RefreshView(TokenEndpoint):
    @extend_schema(
        request=RefreshSerializer,
        responses={200: TokenResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.session_refresh(
            raw_refresh_token=serializer.validated_data["refresh_token"]
        )
        return Response(issued.as_response(), headers=NO_STORE)


class LogoutView(APIView):
    # Logging out ends a login; API keys are revoked with DELETE /api/keys/{id}.
    permission_classes = [HasScopes, IsUserToken]

    @extend_schema(
        request=LogoutSerializer, responses={204: None, 401: ErrorSerializer}, tags=["auth"]
    )
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.session_logout(
            access_payload=request.auth.payload,
            raw_refresh_token=serializer.validated_data.get("refresh_token") or None,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    permission_classes = [HasScopes, IsUserToken]

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer}, tags=["auth"])
    def post(self, request):
        services.user_revoke_all_tokens(
            user_id=request.user.id, reason=services.RevokeReason.LOGOUT_ALL
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: PrincipalSerializer, 401: ErrorSerializer}, tags=["auth"])
    def get(self, request):
        principal = request.user
        username, role = principal.username, principal.role_name
        if not (username and role):
            # An access token issued before tokens carried the name and role.
            user = selectors.user_get(user_id=principal.id)
            if user is None or not user.is_active:
                raise InvalidToken()
            username, role = user.username, user.role.name
        expires = principal.expires_at
        grant = principal.grant if principal.auth_method == "api_key" else None
        data = {
            "id": str(principal.id),
            "username": username,
            "role": role,
            "scopes": ordered(principal.scopes),
            "auth_method": principal.auth_method,
            "expires_at": datetime.fromtimestamp(expires, tz=UTC) if expires else None,
            "session_id": principal.session_id,
            "api_key": grant.identifier if grant else None,
        }
        # PrincipalSerializer documents this shape (OpenAPI); the values are plain already,
        # and building the serializer's fields cost more than the rest of the view.
        return Response(data)


class JwksView(APIView):
    """GET /.well-known/jwks.json: public keys of the active and verify-only asymmetric keys.

    HMAC secrets are never published: services that must verify our tokens
    need an RS256, ES256 or EdDSA key (`manage.py rotate_signing_key --algorithm ES256`).
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: OpenApiResponse(description="RFC 7517 JWK Set")}, auth=[], tags=["auth"]
    )
    def get(self, request):
        keys = signing.published_keys()
        # Short: a rotation publishes a new key that clients should see soon.
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=60"})
