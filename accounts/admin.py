from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts import audit, services, signing
from accounts.exceptions import RevocationStoreUnavailable
from accounts.forms import ApiKeyCreationForm, RoleForm, UserChangeForm, UserCreationForm
from accounts.models import ApiKey, AuditEvent, LoginSession, Role, SigningKey, User
from mcpserver.admin_views import ViewOnlyAdmin


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

    @admin.action(
        description="Log selected users out everywhere (revoke all their tokens, end their "
        "browser sessions)"
    )
    def log_out_everywhere(self, request, queryset):
        for user_id in queryset.values_list("pk", flat=True):
            services.user_revoke_all_tokens(user_id=user_id, reason=LoginSession.RevokeReason.ADMIN)
        self.message_user(
            request,
            "Their tokens no longer work and their browser sessions have ended.",
            messages.SUCCESS,
        )


@admin.register(LoginSession)
class LoginSessionAdmin(ViewOnlyAdmin):
    # Deleting a row would forget the login without revoking its tokens: view only.
    list_display = ["user", "created_at", "refreshed_at", "expires_at", "revoked_at", "client_ip"]
    list_filter = ["revoked_reason", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username", "client_ip"]
    # The current refresh token id is not a secret, but nobody needs to see it.
    exclude = ["refresh_jti"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected logins")
    def revoke(self, request, queryset):
        sessions = list(queryset.values_list("pk", "user_id"))
        services.session_revoke(
            session_ids=[pk for pk, _user in sessions], reason=LoginSession.RevokeReason.ADMIN
        )
        for pk, user_id in sessions:
            audit.record(
                audit.LOGOUT,
                target_type="session",
                target_id=pk,
                detail={"user_id": user_id, "by": "admin"},
            )
        self.message_user(request, "The selected logins were revoked.", messages.SUCCESS)


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return ApiKey.State.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == ApiKey.State.REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == ApiKey.State.EXPIRED:
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == ApiKey.State.ACTIVE:
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "identifier",
        "user",
        "scope_list",
        "state",
        "last_used_at",
        "expires_at",
    ]
    list_filter = [ApiKeyStateFilter, "user__role"]
    list_select_related = ["user"]
    search_fields = ["name", "identifier", "user__username"]
    readonly_fields = [
        "user",
        "name",
        "identifier",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        # Keys are immutable once made: revoke and create another.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: a revoked key stays on record

    @admin.display(description="Scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    @admin.display(description="State")
    def state(self, api_key: ApiKey) -> str:
        return api_key.state

    def save_model(self, request, obj, form, change):
        # Creation goes through the service, which makes the secret; the
        # form has already checked the scopes against the owner's role.
        api_key, secret = services.api_key_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk = api_key.pk
        request.new_api_key = (api_key, secret)

    def response_add(self, request, obj, post_url_continue=None):
        # Shown on a page of its own, never in a message: Django keeps messages
        # in a cookie, and a key must not travel in Set-Cookie.
        api_key, secret = request.new_api_key
        response = TemplateResponse(
            request,
            "admin/accounts/apikey/created.html",
            {**self.admin_site.each_context(request), "api_key": api_key, "secret": secret},
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, "The selected keys no longer work.", messages.SUCCESS)


@admin.register(SigningKey)
class SigningKeyAdmin(ViewOnlyAdmin):
    """Read-only: keys are made and retired by rotation (here or by manage.py)."""

    list_display = [
        "kid",
        "algorithm",
        "state",
        "source",
        "created_at",
        "activated_at",
        "demoted_at",
        "retired_at",
        "tokens_alive",
    ]
    list_filter = ["state", "algorithm"]
    search_fields = ["kid"]
    fields = [*list_display[:-1], "public_key"]
    readonly_fields = fields
    change_list_template = "admin/accounts/signingkey/change_list.html"

    @admin.display(description="Tokens may be alive", boolean=True)
    def tokens_alive(self, key: SigningKey) -> bool:
        return key.tokens_may_be_alive()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "signing_algorithms": signing.ALGORITHMS,
            "default_algorithm": settings.JWT_ALGORITHM,
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        rotate = self.admin_site.admin_view(self.rotate_view)
        return [
            path("rotate/", rotate, name="accounts_signingkey_rotate"),
            *super().get_urls(),
        ]

    def rotate_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.is_superuser:
            raise PermissionDenied
        algorithm = request.POST.get("algorithm", settings.JWT_ALGORITHM)
        if algorithm not in signing.ALGORITHMS:
            self.message_user(request, f"Unknown algorithm {algorithm!r}.", messages.ERROR)
        else:
            try:
                key = services.signing_key_rotate(algorithm=algorithm)
            except (ValueError, RevocationStoreUnavailable) as exc:
                self.message_user(request, f"No rotation: {exc}", messages.ERROR)
                return redirect("admin:accounts_signingkey_changelist")
            self.message_user(
                request,
                f"Signing with {key.kid} ({key.algorithm}) from now on; the previous key "
                "verifies its tokens until it is retired.",
                messages.SUCCESS,
            )
        return redirect("admin:accounts_signingkey_changelist")


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdmin):
    """Read-only: the trail is written by the services, never edited."""

    list_display = ["created_at", "action", "outcome", "actor_name", "auth_method", "ip", "target"]
    list_filter = ["action", "outcome", "auth_method", "target_type", "created_at"]
    search_fields = ["actor_name", "target", "target_id", "ip"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        name = search_term.strip()
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]  # a quoted phrase, as the admin's own search reads it
        if name:
            # Failed logins with a name no account had are kept under its digest.
            found = found | queryset.filter(actor_name__in=audit.unknown_login_names(name))
        return found, may_have_duplicates
