"""The authentication backend: Django's ModelBackend behind the login throttle.

Every password check goes through here: the API's /auth/login and the Django
admin's login page alike. When the throttle refuses, the backend raises
PermissionDenied (Django's way to stop authenticate()) and leaves the reason
on the request as `login_refusal`, where the API view turns it into a 429 or
503 (the pattern django-axes uses).
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from rest_framework.exceptions import APIException

from accounts import throttling


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None:
            # No request (shell, tests) means no client to throttle.
            return super().authenticate(request, username, password, **kwargs)
        try:
            attempt = throttling.login_attempt_begin(request, username)
        except APIException as refusal:
            request.login_refusal = refusal
            raise PermissionDenied(str(refusal.detail)) from None
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            throttling.login_attempt_failed(attempt)
        else:
            throttling.login_attempt_succeeded(attempt)
        return user
