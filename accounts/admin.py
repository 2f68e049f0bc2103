from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count

from accounts import services
from accounts.forms import RoleForm, UserChangeForm, UserCreationForm
from accounts.models import LoginSession, Role, User


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    form = RoleForm
    list_display = ["name", "description", "scope_list", "user_count"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("users"))

    @admin.display(description="Scopes")
    def scope_list(self, role: Role) -> str:
        return ", ".join(role.scopes)

    @admin.display(description="Users", ordering="user_count")
    def user_count(self, role: Role) -> int:
        return role.user_count


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ["username", "email", "role", "is_active", "date_joined", "last_login"]
    list_filter = ["role", "is_active"]
    list_select_related = ["role"]
    search_fields = ["username", "email"]
    ordering = ["username"]
    filter_horizontal = []
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Access", {"fields": ["role", "is_active"]}),
        ("Details", {"fields": ["email", "date_joined", "last_login"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "email",
                    "role",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        )
    ]
    actions = ["log_out_everywhere"]

    @admin.action(description="Log selected users out everywhere (revoke all their tokens)")
    def log_out_everywhere(self, request, queryset):
        for user_id in queryset.values_list("pk", flat=True):
            services.user_revoke_all_tokens(user_id=user_id, reason=LoginSession.RevokeReason.ADMIN)
        self.message_user(request, "Their tokens no longer work.", messages.SUCCESS)


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "refreshed_at", "expires_at", "revoked_at", "client_ip"]
    list_filter = ["revoked_reason", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username", "client_ip"]
    # The current refresh token id is not a secret, but nobody needs to see it.
    exclude = ["refresh_jti"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a row would forget the login without revoking its tokens.
        return False

    @admin.action(description="Revoke selected logins")
    def revoke(self, request, queryset):
        services.session_revoke(
            session_ids=list(queryset.values_list("pk", flat=True)),
            reason=LoginSession.RevokeReason.ADMIN,
        )
        self.message_user(request, "The selected logins were revoked.", messages.SUCCESS)
