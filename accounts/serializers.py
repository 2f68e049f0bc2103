from __future__ import annotations

from rest_framework import serializers

from accounts.scopes import MAX_SCOPE_STRING_LENGTH


class LoginSerializer(serializers.Serializer):
    """The OAuth2 password form (`username`, `password`, optional `scope`), as a form or JSON."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)
    scope = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_SCOPE_STRING_LENGTH,
        help_text="Space-separated scopes to narrow the token to; default: all of the role's.",
    )
    grant_type = serializers.ChoiceField(
        choices=["password"], required=False, help_text="Optional; only `password`."
    )


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096, trim_whitespace=True)


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, trim_whitespace=True
    )


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    refresh_expires_in = serializers.IntegerField()
    scope = serializers.CharField(help_text="Space-separated scopes the access token carries.")


class PrincipalSerializer(serializers.Serializer):
    id = serializers.CharField()
    username = serializers.CharField()
    role = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    auth_method = serializers.ChoiceField(choices=["jwt"])
    expires_at = serializers.DateTimeField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
