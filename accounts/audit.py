"""The audit trail: one `AuditEvent` row per security-relevant change or attempt.

`record()` is called by the services that make the change (and by the signals for
changes made through the admin), so every way in is covered. Who and from where
come from the request being served (a context variable the middleware sets), or
are given. Nothing secret goes in: `detail` keys that look like secrets are
dropped, and keys are named by their public identifier.

Writing an event is one INSERT in the caller's transaction. On the authentication
path only the refusal of a revoked API key writes one, at most once a minute per
key (a marker in the shared cache), so a flood of bad requests cannot flood the
table or slow good ones. Failed logins are bounded by the login throttle; once an
account or address is locked, one event per window says so.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils.crypto import salted_hmac

from accounts.models import AuditEvent, User

logger = logging.getLogger(__name__)

LOGIN = "login"
REFRESH_REUSE = "refresh_reuse"
LOGOUT = "logout"
LOGOUT_ALL = "logout_all"
API_KEY_CREATE = "api_key.create"
API_KEY_REVOKE = "api_key.revoke"
API_KEY_REVOKED_USED = "api_key.revoked_used"
USER_ROLE_CHANGE = "user.role_change"
ROLE_SCOPES_CHANGE = "role.scopes_change"
USER_ACTIVATE = "user.activate"
USER_DEACTIVATE = "user.deactivate"
SIGNING_KEY_ROTATE = "signing_key.rotate"
SIGNING_KEY_RETIRE = "signing_key.retire"
REPOSITORY_INDEX = "repository.index"
REPOSITORY_DELETE = "repository.delete"
PLUGIN_ENABLE = "plugin.enable"
PLUGIN_DISABLE = "plugin.disable"

ACTIONS = (
    LOGIN, REFRESH_REUSE, LOGOUT, LOGOUT_ALL, API_KEY_CREATE, API_KEY_REVOKE,
    API_KEY_REVOKED_USED, USER_ROLE_CHANGE, ROLE_SCOPES_CHANGE, USER_ACTIVATE,
    USER_DEACTIVATE, SIGNING_KEY_ROTATE, SIGNING_KEY_RETIRE, REPOSITORY_INDEX,
    REPOSITORY_DELETE, PLUGIN_ENABLE, PLUGIN_DISABLE,
)  # fmt: skip

SECRET_WORDS = ("password", "secret", "token", "key_hash", "private", "credential")
# Usernames cannot hold a colon, so no account's name can look like this.
UNKNOWN_LOGIN_PREFIX = "unknown:"

current_request: ContextVar = ContextVar("audit_request", default=None)


def login_name(typed: str) -> str:
    """What a failed login's event names as its actor: the username when an account has
    it, else unknown_login_name(): what people type into the username field is sometimes
    their password, and the audit trail must not keep it."""
    if User._default_manager.filter(**{User.USERNAME_FIELD: typed}).exists():
        return typed
    return unknown_login_name(typed)


def unknown_login_name(typed: str, *, secret: str | None = None) -> str:
    """A keyed digest of a name no account has: the same typed name always gives the
    same one (under one SECRET_KEY), so repeated tries at it can be counted, and
    `actor` of /api/audit finds them by the name, but the name cannot be read back."""
    digest = salted_hmac("accounts.audit.unknown-login", typed, secret, algorithm="sha256")
    return UNKNOWN_LOGIN_PREFIX + digest.hexdigest()[:16]


def unknown_login_names(typed: str) -> list[str]:
    """The digests `typed` was recorded under: with the current SECRET_KEY, or with one
    of SECRET_KEY_FALLBACKS, from before the key was rotated."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [unknown_login_name(typed, secret=secret) for secret in secrets]


class AuditContextMiddleware:
    """Makes the request being served known to `record()` (signals have no request)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        marker = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(marker)


def record(
    action: str,
    *,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    actor=None,
    actor_name: str = "",
    target_type: str = "",
    target_id: object = "",
    target: str = "",
    detail: dict | None = None,
    request=None,
    auth_method: str = "",
) -> AuditEvent | None:
    """Write one event. `actor` is a User, a principal, a user id, or None for "whoever
    the current request is authenticated as" (nobody, outside a request)."""
    request = request if request is not None else current_request.get()
    principal = actor if actor is not None else _principal_of(request)
    actor_id, name, method = _describe_actor(principal)
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        actor_name=(actor_name or name)[:150],
        auth_method=auth_method or method,
        ip=_address(request),
        target_type=target_type[:40],
        target_id=str(target_id)[:64],
        target=str(target)[:255],
        detail=_clean(detail or {}),
    )
    try:
        # A savepoint: a refused insert must not doom the caller's transaction too.
        with transaction.atomic():
            event.save(force_insert=True)
    except DatabaseError:
        # The change itself has happened (or been refused); losing its record is logged
        # loudly rather than turned into a failure of the change.
        logger.exception("audit: could not record %s", action)
        return None
    return event


def _principal_of(request):
    # Django's request, not DRF's wrapper: reading DRF's `user` would run authentication
    # again (and an attacker's bogus Authorization header could then stop the record).
    request = getattr(request, "_request", request)
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _describe_actor(principal) -> tuple[int | None, str, str]:
    if principal is None:
        return None, "", ""
    if isinstance(principal, int | str):
        user_id = _as_id(principal)
        name = User.objects.filter(pk=user_id).values_list("username", flat=True).first()
        return user_id, name or "", ""
    # A principal says how it authenticated; a User given directly is the admin site's.
    method = getattr(principal, "auth_method", "") or "session"
    user_id = _as_id(getattr(principal, "pk", None))
    name = getattr(principal, "username", "") or ""
    if not name and user_id is not None:  # token and key principals carry no username
        name = User.objects.filter(pk=user_id).values_list("username", flat=True).first() or ""
    return user_id, str(name), method


def _as_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _address(request) -> str | None:
    if request is None:
        return None
    from accounts.throttling import client_ip  # throttling imports models: keep it lazy

    return client_ip(request)


def _clean(detail: dict) -> dict:
    """Only JSON-friendly values, and none under a name that suggests a secret."""
    cleaned = {}
    for key, value in detail.items():
        if any(word in str(key).lower() for word in SECRET_WORDS):
            continue
        if isinstance(value, set | frozenset | tuple):
            value = sorted(value)
        cleaned[str(key)[:40]] = (
            value
            if isinstance(value, str | int | float | bool | list | type(None) | dict)
            else str(value)
        )
    return cleaned
