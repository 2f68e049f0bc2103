"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, User


def user_get(*, user_id: int | str) -> User | None:
    try:
        return User.objects.select_related("role").get(pk=int(user_id))
    except (User.DoesNotExist, ValueError, TypeError):
        return None


def api_key_list(*, owner: str | None) -> QuerySet[ApiKey]:
    """Keys of the user named `owner`, or everyone's when owner is None."""
    keys = ApiKey.objects.select_related("user__role")
    return keys if owner is None else keys.filter(user__username=owner)


def api_key_visible_to(*, user_id: int | str, everyone: bool) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("user__role")
    return keys if everyone else keys.filter(user_id=int(user_id))
