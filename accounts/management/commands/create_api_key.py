"""manage.py create_api_key USERNAME --name N --scopes S... [--expires-days D]

For provisioning service accounts. Prints the new key once, on stdout alone
(so `KEY=$(manage.py create_api_key ...)` works); the note goes to stderr.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.exceptions import APIException

from accounts import services
from accounts.models import User


class Command(BaseCommand):
    help = "Create an API key for a user and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", nargs="+", required=True, help="Scopes or aliases, e.g. index:read"
        )
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, username: str, name: str, scopes, expires_days, **options):
        user = User.objects.select_related("role").filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {username!r}.")
        if expires_days is not None and not 1 <= expires_days <= 3650:
            raise CommandError("--expires-days must be between 1 and 3650.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        scope_names = [scope for value in scopes for scope in value.replace(",", " ").split()]
        try:
            api_key, secret = services.api_key_create(
                user=user, name=name, scopes=scope_names, expires_at=expires_at
            )
        except APIException as exc:
            raise CommandError(str(exc.detail)) from None
        self.stderr.write(
            f"Created API key {api_key.identifier}… for {username} "
            f"({' '.join(api_key.scopes)}). It is shown once:"
        )
        self.stdout.write(secret)
