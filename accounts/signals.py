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

from django.db.models import DEFERRED
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import apikeys, services
from accounts.models import ApiKey, LoginSession, Role, User

WATCHED_USER_FIELDS = ("password", "is_active", "role_id")


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
    elif _changed(before, instance, "is_active") and not instance.is_active:
        services.user_revoke_all_tokens(
            user_id=instance.pk, reason=LoginSession.RevokeReason.DEACTIVATED
        )
    elif _changed(before, instance, "role_id"):
        services.users_revoke_access_tokens(user_ids=[instance.pk])
    if _changed(before, instance, "is_active") or _changed(before, instance, "role_id"):
        services.api_keys_forget_for_users(user_ids=[instance.pk])
    before.update({field: getattr(instance, field) for field in WATCHED_USER_FIELDS})


@receiver(post_delete, sender=User, dispatch_uid="accounts.user_deleted")
def user_deleted(sender, instance: User, **kwargs) -> None:
    services.users_revoke_access_tokens(user_ids=[instance.pk])


@receiver(post_save, sender=Role, dispatch_uid="accounts.role_scopes_change")
def role_scopes_change(sender, instance: Role, created: bool, **kwargs) -> None:
    before = getattr(instance, "_loaded_scopes", None)
    current = frozenset(instance.scopes or ())
    if created or before is None or before == current:
        instance._loaded_scopes = current
        return
    user_ids = list(instance.users.values_list("pk", flat=True))
    services.users_revoke_access_tokens(user_ids=user_ids)
    services.api_keys_forget_for_users(user_ids=user_ids)
    instance._loaded_scopes = current


@receiver(post_save, sender=ApiKey, dispatch_uid="accounts.api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="accounts.api_key_deleted")
def api_key_changed(sender, instance: ApiKey, created: bool = False, **kwargs) -> None:
    # Also covers keys deleted along with their owner. A new key has nothing cached.
    if not created:
        apikeys.forget([instance.key_hash])
