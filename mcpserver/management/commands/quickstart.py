"""manage.py quickstart: set up the embedded default and serve it.

Migrates, creates the cache table, creates an `admin` account on first run
(its password is printed once), shows a first request to try, then runs the
development server and a background worker for indexing jobs.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts import services
from accounts.models import User

DEFAULT_ADDRPORT = "127.0.0.1:8000"


class Command(BaseCommand):
    help = "Set up the database and an admin account, then start the server."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default=DEFAULT_ADDRPORT)
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up only; do not start the server."
        )

    def handle(self, *args, addrport: str, no_serve: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        key = services.signing_key_ensure_active()
        self.stdout.write(f"Signing tokens with key {key.kid} ({key.algorithm}).")
        self._ensure_admin()
        base = f"http://{addrport}"
        self.stdout.write(
            "\nFirst things to try:\n"
            f"  Admin site:  {base}/admin/\n"
            f"  API docs:    {base}/api/docs/\n"
            f"  Log in:      curl -s {base}/auth/login -d username=admin -d 'password=…'\n"
            f"  Who am I:    curl -s {base}/auth/me -H 'Authorization: Bearer <access_token>'\n"
            f"  MCP clients: {base}/mcp with an API key (manage.py create_api_key admin --name\n"
            "               claude --scopes mcp:search:code); see the README for Claude Code,\n"
            "               VS Code and the Python SDK.\n"
        )
        if settings.MCP_INDEX_ROOTS:
            self.stdout.write(f"  Index roots: {', '.join(settings.MCP_INDEX_ROOTS)}\n")
        else:
            self.stdout.write(
                "  To index code, set MCP_INDEX_ROOTS to the folders repositories may come\n"
                "  from (e.g. MCP_INDEX_ROOTS=$HOME/src) and restart.\n"
            )
        if no_serve:
            return
        # The background worker runs indexing jobs; it stops with the server.
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.5"],
            cwd=settings.BASE_DIR,
        )
        # SIGTERM (a service manager, a test) must stop the worker too: turn it into
        # SystemExit so the finally below runs, as it does for Ctrl-C.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()  # a long job: its lease runs out and a re-index retries it

    def _ensure_admin(self) -> None:
        admins = list(
            User.objects.filter(role__name="admin", is_active=True).values_list(
                "username", flat=True
            )
        )
        if admins:
            self.stdout.write(
                f"Admin account(s): {', '.join(admins)}. Forgot the password? "
                "python manage.py changepassword admin"
            )
            return
        if User.objects.filter(username="admin").exists():
            self.stdout.write(
                self.style.WARNING(
                    "A user named admin exists but is inactive or not an admin. Create an "
                    "admin with: python manage.py create_user NAME --role admin"
                )
            )
            return
        password = secrets.token_urlsafe(18)
        services.user_create(username="admin", password=password, role_name="admin")
        self.stdout.write(
            self.style.SUCCESS("Created the admin account (shown once, keep it safe):")
            + f"\n  username: admin\n  password: {password}"
        )
