"""Permissions. One class for every endpoint: the scopes a view asks for.

    class RepositoryList(APIView):
        required_scopes = [scopes.SEARCH_CODE]            # all of these
        any_scopes = [scopes.SEARCH_CODE, scopes.INDEX_CREATE]  # or: at least one

Either may be a dict per HTTP method ({"GET": [...], "DELETE": [...]}). A view
that names neither only needs an authenticated caller.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.exceptions import InsufficientScope


def _for_method(scopes, request) -> list[str]:
    """Scopes may be one list for the view, or a dict per HTTP method."""
    if isinstance(scopes, dict):
        return list(scopes.get(request.method, ()))
    return list(scopes)


class HasScopes(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 NotAuthenticated
        granted = getattr(user, "scopes", frozenset())
        required = _for_method(getattr(view, "required_scopes", ()), request)
        missing = [scope for scope in required if scope not in granted]
        if missing:
            raise InsufficientScope(missing)
        any_of = _for_method(getattr(view, "any_scopes", ()), request)
        if any_of and not granted.intersection(any_of):
            raise InsufficientScope(any_of, any_of=True)
        return True


class IsUserToken(BasePermission):
    """For what only a person may do (manage keys, log out): a JWT, not an API key."""

    message = "This needs a user's access token (log in), not an API key."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "auth_method", None) == "jwt"
