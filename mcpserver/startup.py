"""Run the system checks when a WSGI/ASGI server loads the application.

Management commands run them already; gunicorn and uvicorn do not, and
production must refuse to start on an unsafe configuration. Then make sure a
signing key exists and opens with the configured key-encryption key, so that
a wrong JWT_KEY_ENCRYPTION_KEY stops the server instead of failing every login.
"""

import logging

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError
from django.db import DatabaseError

logger = logging.getLogger(__name__)


def run_startup_checks() -> None:
    messages = checks.run_checks()
    for message in messages:
        if not message.is_serious() and not message.is_silenced():
            logger.warning("%s", message)  # e.g. mcpserver.W003: shown, not fatal
    errors = [m for m in messages if m.is_serious() and not m.is_silenced()]
    if errors:
        raise SystemCheckError(
            "The server refuses to start:\n" + "\n".join(f"  {error}" for error in errors)
        )
    _ensure_signing_key()


def _ensure_signing_key() -> None:
    from accounts import signing

    try:
        signing.key_ring.signing_key()  # creates the first key on a fresh database
    except DatabaseError:
        return  # not migrated yet: `manage.py migrate` comes first
    except ImproperlyConfigured as exc:
        raise SystemCheckError(f"The server refuses to start:\n  {exc}") from None
