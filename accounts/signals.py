"""Changes that must end tokens, however they are made (admin, shell, command).

Models remember the values they were loaded with (from_db); after a save we
compare and revoke:
- password changed, or user deactivated: every token and every login;
- role changed: access tokens (refresh recomputes scopes from the new role);
- a role's scopes changed: access tokens of everyone holding the role;
- user deleted: access tokens (sessions go with the row).

API keys are looked up through the shared cache: any change to a key, or to
its owner's activity, role or role scopes, drops the cached lookups.
A password change does not touch API keys: they are separate credentials.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import caches
from django.db.models import DEFERRED
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import apikeys, audit, services, throttling
from accounts.conf import auth_settings
from accounts.exceptions import LoginDelayed, LoginLocked
from accounts.models import ApiKey, AuditEvent, LoginSession, Role, User

WATCHED_USER_FIELDS = ("password", "is_active", "role_id", "username")


def _changed(before: dict, instance, field: str) -> bool:
    old = before.get(field, DEFERRED)
    return old is not DEFERRED and old != getattr(instance, field)


@receiver(post_save, sender=User, dispatch_uid="accounts.user_security_change")
def user_security_change(sender, instance: User, created: bool, **kwargs) -> None:
    before = getattr(instance, "_loaded_values", None)
    if created or before is None:
        # From now on this instance compares against what it just saved.
        instance._loaded_values = {f: getattr(instance, f) for f in WATCHED_USER_FIELDS}
        return
    if getattr(instance, "_hash_upgrade", False):
        # Same password, stronger hash (see User.check_password).
        instance._hash_upgrade = False
    elif _changed(before, instance, "password"):
        services.user_revoke_all_tokens(
            user_id=instance.pk, reason=LoginSession.RevokeReason.PASSWORD_CHANGE
        )
        # The new epoch, so that the browser session making the change can keep itself
        # (Django's update_session_auth_hash) while every other one ends.
        instance.refresh_from_db(fields=["browser_session_epoch"])
    elif _changed(before, instance, "is_active") and not instance.is_active:
        services.user_revoke_all_tokens(
            user_id=instance.pk, reason=LoginSession.RevokeReason.DEACTIVATED
        )
        instance.refresh_from_db(fields=["browser_session_epoch"])
    elif _changed(before, instance, "role_id") or _changed(before, instance, "username"):
        # Access tokens carry the username and role (/auth/me answers from them).
        services.users_revoke_access_tokens(user_ids=[instance.pk])
    if any(_changed(before, instance, field) for field in ("is_active", "role_id", "username")):
        services.api_keys_forget_for_users(user_ids=[instance.pk])
    _audit_user_change(before, instance)
    before.update({field: getattr(instance, field) for field in WATCHED_USER_FIELDS})


@receiver(post_delete, sender=User, dispatch_uid="accounts.user_deleted")
def user_deleted(sender, instance: User, **kwargs) -> None:
    services.users_revoke_access_tokens(user_ids=[instance.pk])


@receiver(post_save, sender=Role, dispatch_uid="accounts.role_scopes_change")
def role_scopes_change(sender, instance: Role, created: bool, **kwargs) -> None:
    # Access tokens and cached key grants carry the role's name and its scopes.
    before = getattr(instance, "_loaded_scopes", None)
    current = frozenset(instance.scopes or ())
    renamed = getattr(instance, "_loaded_name", instance.name) != instance.name
    instance._loaded_name = instance.name
    if created or before is None or (before == current and not renamed):
        instance._loaded_scopes = current
        return
    user_ids = list(instance.users.values_list("pk", flat=True))
    services.users_revoke_access_tokens(user_ids=user_ids)
    services.api_keys_forget_for_users(user_ids=user_ids)
    if before == current:
        return  # renamed only: nothing granted changed, nothing to audit
    audit.record(
        audit.ROLE_SCOPES_CHANGE,
        target_type="role",
        target_id=instance.pk,
        target=instance.name,
        detail={"added": sorted(current - before), "removed": sorted(before - current)},
    )
    instance._loaded_scopes = current


def _audit_user_change(before: dict, user: User) -> None:
    target = {"target_type": "user", "target_id": user.pk, "target": user.username}
    if _changed(before, user, "is_active"):
        action = audit.USER_ACTIVATE if user.is_active else audit.USER_DEACTIVATE
        audit.record(action, **target)
    if _changed(before, user, "role_id"):
        names = dict(
            Role.objects.filter(pk__in=[before["role_id"], user.role_id]).values_list("pk", "name")
        )
        audit.record(
            audit.USER_ROLE_CHANGE,
            detail={"from": names.get(before["role_id"]), "to": names.get(user.role_id)},
            **target,
        )


@receiver(user_logged_in, dispatch_uid="accounts.audit_admin_login")
def audit_session_login(sender, request, user, **kwargs) -> None:
    # The admin site's login (the API's logins are recorded by services.session_start).
    audit.record(
        audit.LOGIN, actor=user, request=request, auth_method="password", detail={"via": "admin"}
    )


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """A refused login. Wrong passwords are bounded by the login throttle; once it locks
    an address (or makes it wait), one event per window says so, not one per attempt."""
    username = str(credentials.get("username", ""))[:150]
    refusal = getattr(request, "login_refusal", None) if request is not None else None
    if refusal is None:
        reason = "bad_credentials"
    elif isinstance(refusal, LoginLocked):
        # One event per address and kind of refusal in a window, never one per name: a
        # locked address trying new names must not write anything more.
        reason = "delayed" if isinstance(refusal, LoginDelayed) else "locked"
        window = int(auth_settings.LOGIN_FAILURE_WINDOW.total_seconds())
        marker = f"audit:login-{reason}:ip:{throttling.client_network(request)}"
        try:
            first = caches[auth_settings.CACHE_ALIAS].add(marker, 1, window)
        except Exception:
            return  # the cache is down: the 503 says so, and there is no bound to keep
        if not first:
            return
    else:
        return  # the revocation store is down: nothing was checked
    audit.record(
        audit.LOGIN,
        outcome=AuditEvent.Outcome.FAILURE,
        actor_name=audit.login_name(username),
        request=request,
        detail={"reason": reason, "via": "admin" if _is_admin(request) else "api"},
    )


def _is_admin(request) -> bool:
    return request is not None and request.path.startswith("/admin/")


@receiver(post_save, sender=ApiKey, dispatch_uid="accounts.api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="accounts.api_key_deleted")
def api_key_changed(sender, instance: ApiKey, created: bool = False, **kwargs) -> None:
    # Also covers keys deleted along with their owner. A new key has nothing cached.
    if not created:
        apikeys.forget([instance.key_hash])
