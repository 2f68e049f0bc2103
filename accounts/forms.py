from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from rest_framework.exceptions import APIException

from accounts import services
from accounts.models import ApiKey, Role, User
from accounts.scopes import MCP_SCOPES, SCOPE_DESCRIPTIONS

SCOPE_CHOICES = [(scope, f"{scope} — {SCOPE_DESCRIPTIONS[scope]}") for scope in MCP_SCOPES]


class RoleForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Holding both mcp:user:manage and mcp:system:config lets the role's users "
        "into this admin site. Changing scopes ends the access tokens of everyone with the role.",
    )

    class Meta:
        model = Role
        fields = ["name", "description", "scopes"]


class UserCreationForm(auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User
        fields = ["username", "email", "role"]


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User
        fields = ["username", "email", "role", "is_active", "password"]


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Must be within the owner's role. The key is shown once, after saving.",
    )

    class Meta:
        model = ApiKey
        fields = ["user", "name", "scopes", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("user") and cleaned.get("scopes"):
            try:
                services.api_key_check(
                    user=cleaned["user"],
                    scopes=cleaned["scopes"],
                    expires_at=cleaned.get("expires_at"),
                )
            except APIException as exc:
                raise forms.ValidationError(str(exc.detail)) from None
        return cleaned
