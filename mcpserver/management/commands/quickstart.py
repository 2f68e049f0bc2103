"""manage.py quickstart: set up the embedded default and serve it.

Checks that the address is free, migrates, creates the cache table, creates an
`admin` account on first run (its password is printed once), shows a first
request to try, then runs the development server and a background worker for
indexing jobs. The worker never outlives the command (see `_start_worker`).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import signal
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEFAULT_ADDRPORT = "127.0.0.1:8000"
# After the server is gone, how long the worker may take to finish the job in hand
# before it is stopped anyway (its lease runs out and a re-index retries the job).
WORKER_GRACE_SECONDS = 30

# The worker's entry point. Its standard input is a pipe from this command, which never
# writes to it: the worker sees end-of-file exactly when the command's process is gone.
WORKER_BOOTSTRAP = "from mcpserver.management.commands.quickstart import worker_main; worker_main()"


class Command(BaseCommand):
    help = "Set up the database and an admin account, then start the server."

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport",
            nargs="?",
            default=DEFAULT_ADDRPORT,
            help=f"Address and port to serve on (default {DEFAULT_ADDRPORT}); e.g. "
            "127.0.0.1:8001 when 8000 is taken.",
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up only; do not start the server."
        )

    def handle(self, *args, addrport: str, no_serve: bool, **options):
        address = Address.parse(addrport)
        if not no_serve:
            # Before anything is set up, started or printed: runserver would only find out
            # after the welcome, and then leave through os._exit.
            address.ensure_free()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        from accounts import services

        key = services.signing_key_ensure_active()
        self.stdout.write(f"Signing tokens with key {key.kid} ({key.algorithm}).")
        self._ensure_admin()
        base = address.url
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
        worker = _start_worker()
        # SIGTERM (a service manager, a test) must stop the worker at once too: turn it into
        # SystemExit so the finally below runs, as it does for Ctrl-C.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            _stop_worker(worker)

    def _ensure_admin(self) -> None:
        from accounts import services
        from accounts.models import User

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


class Address:
    """The ADDR:PORT argument, read as runserver reads it."""

    def __init__(self, host: str, port: int, ipv6: bool):
        self.host, self.port, self.ipv6 = host, port, ipv6

    @classmethod
    def parse(cls, addrport: str) -> Address:
        from django.core.management.commands.runserver import naiveip_re

        match = re.match(naiveip_re, addrport)
        if match is None:
            raise CommandError(
                f"{addrport!r} is not a port or an address:port pair; e.g. 127.0.0.1:8001."
            )
        addr, _ipv4, ipv6, _fqdn, port = match.groups()
        if ipv6:
            addr = addr[1:-1]
        if not 0 < int(port) < 65536:
            raise CommandError(f"{port} is not a port number (1-65535).")
        return cls(addr or "127.0.0.1", int(port), bool(ipv6))

    @property
    def display_host(self) -> str:
        if self.ipv6:
            return f"[{self.host}]"
        return "0.0.0.0" if self.host == "0" else self.host  # noqa: S104 (runserver's "0")

    @property
    def url(self) -> str:
        return f"http://{self.display_host}:{self.port}"

    def ensure_free(self) -> None:
        """Bind the address as runserver will (its own server class, so the same socket
        options: SO_REUSEADDR, IPv6), then let it go; refuse to go on if that fails."""
        from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

        try:
            server = WSGIServer((self.host, self.port), WSGIRequestHandler, ipv6=self.ipv6)
        except OSError as exc:
            other = f"{self.display_host}:{self.port + 1 if self.port < 65535 else 8001}"
            if exc.errno == errno.EADDRINUSE:
                reason = "is already in use (another server is listening there)"
            elif exc.errno == errno.EACCES:
                reason = "needs privileges this user lacks"
            elif exc.errno == errno.EADDRNOTAVAIL:
                reason = "is not an address of this machine"
            else:
                reason = f"cannot be listened on ({exc.strerror or exc})"
            raise CommandError(
                f"{self.display_host}:{self.port} {reason}. Nothing was started. Choose "
                f"another port, e.g.: python manage.py quickstart {other}"
            ) from None
        server.server_close()


def _start_worker() -> subprocess.Popen:
    """The background worker that runs indexing jobs, tied to this process's life.

    The finally around runserver stops it on a normal exit, Ctrl-C and SIGTERM, but not
    every exit runs it: runserver leaves through os._exit when it cannot bind, and a
    SIGKILL or a crash runs nothing. So the worker also watches a pipe whose only writer
    is this process: when the process ends, however it ends, the kernel closes the pipe
    and the worker reads end-of-file and stops. Unlike Linux's PR_SET_PDEATHSIG (tied to
    the thread that forked, Linux only, via ctypes) this works on every platform Python
    runs on, and needs nothing from the worker command itself.
    """
    return subprocess.Popen(  # noqa: S603 (this interpreter, constant arguments)
        [
            sys.executable,
            "-c",
            WORKER_BOOTSTRAP,
            "db_worker",
            "--no-startup-delay",
            "--interval",
            "0.5",
        ],
        cwd=settings.BASE_DIR,
        stdin=subprocess.PIPE,  # never written to: see worker_main
    )


def _stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=WORKER_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()  # a long job: its lease runs out and a re-index retries it
        worker.wait()


def worker_main() -> None:
    """Run in the worker process: `manage.py db_worker` plus a watchdog on standard input."""
    threading.Thread(target=_exit_when_parent_is_gone, name="parent-watchdog", daemon=True).start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpserver.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


def _exit_when_parent_is_gone() -> None:
    try:
        while os.read(0, 4096):  # quickstart never writes: this returns b"" when it is gone
            pass
    except OSError:
        pass
    # As quickstart's own finally would: SIGTERM lets db_worker finish the job in hand
    # (or leave at once when idle), then it is stopped anyway.
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait(WORKER_GRACE_SECONDS)
    os._exit(1)
