from __future__ import annotations

from rest_framework import serializers

from accounts.scopes import MAX_SCOPE_STRING_LENGTH, ordered


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
    auth_method = serializers.ChoiceField(choices=["jwt", "api_key"])
    expires_at = serializers.DateTimeField(allow_null=True)
    session_id = serializers.CharField(allow_null=True, help_text="The login, for a JWT.")
    api_key = serializers.CharField(allow_null=True, help_text="The key's identifier, for a key.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ApiKeySerializer(serializers.Serializer):
    """A key as it is listed: never the secret."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    identifier = serializers.CharField(help_text="The key's first characters.")
    owner = serializers.CharField(source="user.username")
    scopes = serializers.ListField(child=serializers.CharField())
    effective_scopes = serializers.SerializerMethodField(
        help_text="What the key may do now: its scopes within the owner's current role."
    )
    state = serializers.ChoiceField(choices=["active", "expired", "revoked"])
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    def get_effective_scopes(self, api_key) -> list[str]:
        return ordered(api_key.effective_scopes())


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret. Shown once: store it now.")


class ScopeListField(serializers.ListField):
    """A list of scope names, or one space-separated string of them."""

    child = serializers.CharField(max_length=64)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = data.split()
        return super().to_internal_value(data)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = ScopeListField(max_length=32, help_text="Scopes or aliases; at least one.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_in_days = serializers.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Instead of expires_at."
    )

    def validate(self, attrs):
        if attrs.get("expires_at") and attrs.get("expires_in_days"):
            raise serializers.ValidationError("Give expires_at or expires_in_days, not both.")
        return attrs


class AuditQuerySerializer(serializers.Serializer):
    action = serializers.ListField(
        child=serializers.ChoiceField(choices=[]), required=False, default=list,
        help_text="An action, e.g. login or api_key.revoke; may repeat.",
    )  # fmt: skip
    outcome = serializers.ChoiceField(choices=["success", "failure"], required=False)
    actor = serializers.CharField(
        required=False,
        max_length=150,
        help_text="A username (also finds failed logins with a name no account had).",
    )
    actor_id = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    target_type = serializers.CharField(required=False, max_length=40)
    target_id = serializers.CharField(required=False, max_length=64)
    ip = serializers.IPAddressField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=500, help_text="Events per page (100)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.audit import ACTIONS

        self.fields["action"].child.choices = ACTIONS
        self.fields["action"].child.choice_strings_to_values = {a: a for a in ACTIONS}

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError("until must not be before since.")
        return attrs


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    outcome = serializers.CharField()
    actor = serializers.SerializerMethodField()
    auth_method = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    target = serializers.SerializerMethodField()
    detail = serializers.DictField()

    def get_actor(self, event) -> dict | None:
        if event.actor_id is None and not event.actor_name:
            return None
        return {"id": event.actor_id, "username": event.actor_name}

    def get_target(self, event) -> dict | None:
        if not event.target_type:
            return None
        return {"type": event.target_type, "id": event.target_id, "name": event.target}
