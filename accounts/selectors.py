"""Reads for accounts."""

from __future__ import annotations

from accounts import audit
from accounts.models import ApiKey, AuditEvent, User


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


def audit_events(*, params: dict):
    """Audit events matching validated AuditQuerySerializer parameters, newest first."""
    events = AuditEvent.objects.all()
    if params.get("action"):
        events = events.filter(action__in=params["action"])
    if params.get("outcome"):
        events = events.filter(outcome=params["outcome"])
    if params.get("actor"):
        # Failed logins with a name no account had are kept under its digest.
        actor = params["actor"]
        events = events.filter(actor_name__in=[actor, *audit.unknown_login_names(actor)])
    if params.get("actor_id") is not None:
        events = events.filter(actor_id=params["actor_id"])
    for field in ("target_type", "target_id", "ip"):
        if params.get(field):
            events = events.filter(**{field: params[field]})
    if params.get("since"):
        events = events.filter(created_at__gte=params["since"])
    if params.get("until"):
        events = events.filter(created_at__lt=params["until"])
    return events
