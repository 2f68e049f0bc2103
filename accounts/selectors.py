"""Reads for accounts."""

from __future__ import annotations

from accounts.models import ApiKey, User


def user_get(*, user_id: int | str) -> User | None:
    try:
        return User.objects.select_related("role").get(pk=int(user_id))
    except (User.DoesNotExist, ValueError, TypeError):
        return None


def api_key_list(*, owner: str | None = None, owner_id: int | str | None = None):
    """Keys of one user (by username or id), or everyone's when neither is given."""
    keys = ApiKey.objects.select_related("user__role")
    if owner is not None:
        keys = keys.filter(user__username=owner)
    if owner_id is not None:
        keys = keys.filter(user_id=int(owner_id))
    return keys
