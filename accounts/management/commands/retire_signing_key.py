"""manage.py retire_signing_key KID [--force]"""

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.exceptions import RevocationStoreUnavailable


class Command(BaseCommand):
    help = "Retire a verify-only signing key: tokens it signed stop working."

    def add_arguments(self, parser):
        parser.add_argument("kid")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Retire even though tokens it signed may still be valid (they will fail).",
        )

    def handle(self, *args, kid, force, **options):
        try:
            key = services.signing_key_retire(kid=kid, force=force)
        except (ValueError, RevocationStoreUnavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Retired {key.kid}; its secret is erased."))
