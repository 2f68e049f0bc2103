from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts import scopes as scope_vocabulary

# Holding both of these is what the Django admin requires: inside the admin a
# user can change anything, so only a role that may already manage users and
# configuration gets in.
ADMIN_SITE_SCOPES = frozenset({scope_vocabulary.USER_MANAGE, scope_vocabulary.SYSTEM_CONFIG})

DEFAULT_ROLE_NAME = "viewer"


class Role(models.Model):
    name = models.SlugField(max_length=50, unique=True)
    description = models.CharField(max_length=255, blank=True)
    scopes = models.JSONField(default=list, blank=True, help_text="MCP scopes this role grants.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.scopes, list) or not all(isinstance(s, str) for s in self.scopes):
            raise ValidationError({"scopes": "Scopes must be a list of scope names."})
        try:
            self.scopes = scope_vocabulary.ordered(scope_vocabulary.expand_scopes(self.scopes))
        except scope_vocabulary.UnknownScopeError as exc:
            raise ValidationError({"scopes": str(exc)}) from exc

    @property
    def scope_set(self) -> frozenset[str]:
        # Stored scopes are validated on save; unknown leftovers grant nothing.
        return frozenset(self.scopes) & frozenset(scope_vocabulary.MCP_SCOPES)

    @property
    def grants_admin_site(self) -> bool:
        return ADMIN_SITE_SCOPES <= self.scope_set

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What accounts.signals compares a save against: tokens carry name and scopes.
        instance._loaded_scopes = frozenset(instance.scopes or ())
        instance._loaded_name = instance.name
        return instance


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(
        self, username: str, password: str | None = None, *, role: Role | None = None, **extra
    ) -> User:
        if not username:
            raise ValueError("A username is required.")
        if role is None:
            role = Role.objects.get(name=DEFAULT_ROLE_NAME)
        user = self.model(username=self.model.normalize_username(username), role=role, **extra)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra) -> User:
        """For `manage.py createsuperuser`: a user with the admin role."""
        extra.pop("is_staff", None)
        extra.pop("is_superuser", None)
        return self.create_user(username, password, role=Role.objects.get(name="admin"), **extra)


class User(AbstractBaseUser):
    """A person or service account. What it may do comes from its role's scopes."""

    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        help_text="150 characters or fewer. Letters, digits and @/./+/-/_ only.",
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField(blank=True)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="users")
    is_active = models.BooleanField(
        default=True, help_text="Inactive users cannot log in and their tokens stop working."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Browser sessions (the admin's) carry a hash of this; raising it ends them all at once.
    browser_session_epoch = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised by logout-all, deactivation and password changes.",
    )

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @classmethod
    def from_db(cls, db, field_names, values):
        # Remember what was loaded, so that a save can tell which
        # security-relevant fields changed (see accounts.signals).
        instance = super().from_db(db, field_names, values)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance

    @property
    def scopes(self) -> frozenset[str]:
        return self.role.scope_set

    def check_password(self, raw_password: str) -> bool:
        """Django's, but a hash upgrade is marked so that it is not taken for a
        password change (which would log the user out everywhere)."""

        def upgrade(raw: str) -> None:
            self.set_password(raw)
            self._password = None
            self._hash_upgrade = True
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, upgrade)

    def save(self, *args, **kwargs) -> None:
        # The epoch is raised by a queryset update (services.user_revoke_all_tokens): a full
        # save of a copy loaded before that must not write the old epoch back and revive
        # the sessions it ended.
        if not self._state.adding and kwargs.get("update_fields") is None:
            skipped = {"browser_session_epoch", *self.get_deferred_fields()}
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in skipped
            ]
        super().save(*args, **kwargs)

    def _get_session_auth_hash(self, secret=None) -> str:
        """Django's session hash (of the password hash), which every browser session must
        match on every request, bound to the epoch as well: raising the epoch ends every
        session of the user, not only a password change. Epoch 0 keeps Django's own hash,
        so that sessions made before the epoch existed live on."""
        if not self.browser_session_epoch:
            return super()._get_session_auth_hash(secret=secret)
        return salted_hmac(
            "accounts.User.session_auth_hash",
            f"{self.password}\n{self.browser_session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    # The Django admin and contrib.auth ask these; they follow from the role.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.role.grants_admin_site

    @property
    def is_superuser(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_staff

    def has_perms(self, perm_list, obj=None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


class LoginSession(models.Model):
    """One login: the family of refresh tokens that descend from it.

    Refresh tokens are checked against this row, which makes refresh rotation
    atomic (a conditional UPDATE) and durable. Access tokens are never looked
    up here: their revocation lives in the shared cache.
    """

    class RevokeReason(models.TextChoices):
        LOGOUT = "logout", "Logged out"
        LOGOUT_ALL = "logout_all", "Logged out everywhere"
        REUSE = "reuse", "Refresh token reused"
        PASSWORD_CHANGE = "password_change", "Password changed"
        DEACTIVATED = "deactivated", "User deactivated"
        ADMIN = "admin", "Revoked by an administrator"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="The absolute end: no refresh after this.")
    requested_scopes = models.JSONField(
        null=True, blank=True, help_text="Scopes asked for at login; empty means the whole role."
    )
    refresh_jti = models.CharField(max_length=64, help_text="The only refresh token still valid.")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class ApiKey(models.Model):
    """A long-lived credential for machines (CI bots, AI agents).

    Only the public identifier (the key's first characters) and a SHA-256 of
    the whole key are stored; the key itself is shown once, at creation. What
    a key may do is its scopes intersected with its owner's current role.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    identifier = models.CharField(
        max_length=16, db_index=True, help_text="The key's first characters: safe to show and log."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier}…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.ACTIVE

    def effective_scopes(self) -> frozenset[str]:
        return frozenset(self.scopes) & self.user.scopes


class SigningKey(models.Model):
    """A key that signs or verifies our JWTs.

    Exactly one key is active (it signs; tokens carry its kid). Verify-only
    keys still verify tokens they signed before a rotation. Retired keys
    verify nothing, and their secret is erased. The private key or HMAC
    secret is stored encrypted (accounts.signing); the public key is public.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active (signs)"
        VERIFY_ONLY = "verify-only", "Verify only"
        RETIRED = "retired", "Retired"

    class Algorithm(models.TextChoices):
        HS256 = "HS256"
        RS256 = "RS256"
        ES256 = "ES256"
        EDDSA = "EdDSA"

    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=8, choices=Algorithm.choices)
    state = models.CharField(max_length=12, choices=State.choices, db_index=True)
    source = models.CharField(
        max_length=20, default="generated", help_text="generated, pem-file or environment"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    demoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    public_key = models.TextField(blank=True, help_text="PEM; empty for HMAC keys.")
    encrypted_private_key = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"],
                condition=models.Q(state="active"),
                name="one_active_signing_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm}, {self.state})"

    def tokens_may_be_alive(self, now=None) -> bool:
        """Could a token this key signed still be accepted?"""
        from datetime import timedelta

        from rest_framework_simplejwt.settings import api_settings

        if self.state == self.State.ACTIVE:
            return True
        if self.state == self.State.RETIRED or self.demoted_at is None:
            return False
        from accounts.conf import auth_settings

        leeway = api_settings.LEEWAY
        leeway = leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway or 0)
        # Other processes may sign with a demoted key until they refresh.
        lag = timedelta(seconds=auth_settings.SIGNING_KEY_REFRESH)
        horizon = self.demoted_at + lag + api_settings.REFRESH_TOKEN_LIFETIME + leeway
        return (now or timezone.now()) < horizon


class AuditEvent(models.Model):
    """Who did what, when, from where, and how it went. Append-only: nothing edits it.

    Never holds a secret: keys appear by their public identifier, tokens not at all.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    # No database constraint: an event outlives its actor, and writing one must never
    # fail because the user went away meanwhile.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(
        max_length=150,
        blank=True,
        help_text=(
            "The username then (a failed login with a name no account had: unknown: and a "
            "keyed digest of it)."
        ),
    )
    auth_method = models.CharField(max_length=20, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=255, blank=True, help_text="What it was done to.")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["action", "created_at"]),
            models.Index(fields=["actor", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"
