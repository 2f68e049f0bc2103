"""Run the system checks when a WSGI/ASGI server loads the application.

Management commands run them already; gunicorn and uvicorn do not, and
production must refuse to start on an unsafe configuration.
"""

from django.core import checks
from django.core.management.base import SystemCheckError


def run_startup_checks() -> None:
    messages = checks.run_checks()
    errors = [m for m in messages if m.is_serious() and not m.is_silenced()]
    if errors:
        raise SystemCheckError(
            "The server refuses to start:\n" + "\n".join(f"  {error}" for error in errors)
        )
