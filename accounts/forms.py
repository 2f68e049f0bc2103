from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms

from accounts.models import Role, User
from accounts.scopes import MCP_SCOPES, SCOPE_DESCRIPTIONS


class RoleForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope} — {SCOPE_DESCRIPTIONS[scope]}") for scope in MCP_SCOPES],
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
