"""Reads for accounts."""

from __future__ import annotations

from accounts.models import User


def user_get(*, user_id: int | str) -> User | None:
    try:
        return User.objects.select_related("role").get(pk=int(user_id))
    except (User.DoesNotExist, ValueError, TypeError):
        return None
