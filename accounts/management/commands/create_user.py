"""manage.py create_user USERNAME --role ROLE [--password-stdin] [--email E]

The password comes from standard input or an interactive prompt, never from
an argument: arguments end up in shell history and in `ps` output.
"""

from __future__ import annotations

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import DEFAULT_ROLE_NAME, Role, User


class Command(BaseCommand):
    help = "Create a user with a role. The password is read from stdin or a prompt."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", default=DEFAULT_ROLE_NAME, help="viewer, developer, admin…")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )

    def handle(self, *args, username: str, role: str, email: str, password_stdin: bool, **opts):
        if not Role.objects.filter(name=role).exists():
            names = ", ".join(Role.objects.values_list("name", flat=True))
            raise CommandError(f"Unknown role {role!r}. Roles: {names}.")
        if User.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        try:  # before the password is asked for, and not reported as the password's fault
            User._meta.get_field("username").clean(username, None)
        except ValidationError as exc:
            raise CommandError("Username refused: " + " ".join(exc.messages)) from None
        password = self._read_password(password_stdin)
        try:
            user = services.user_create(
                username=username, password=password, role_name=role, email=email
            )
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"Created {user.username} with role {role}."))

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        else:
            raise CommandError("No terminal to prompt on: pass --password-stdin and pipe it in.")
        if not password:
            raise CommandError("The password is empty.")
        return password
