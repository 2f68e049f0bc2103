"""manage.py rotate_signing_key [--algorithm ALG]: a new key signs, the old one only verifies."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import services, signing
from accounts.exceptions import RevocationStoreUnavailable


class Command(BaseCommand):
    help = "Make a new active signing key; the current one becomes verify-only."

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=signing.ALGORITHMS, default=None)

    def handle(self, *args, algorithm, **options):
        try:
            key = services.signing_key_rotate(algorithm=algorithm or settings.JWT_ALGORITHM)
        except (ValueError, RevocationStoreUnavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Signing with {key.kid} ({key.algorithm}) from now on.")
            + " The previous key verifies its tokens until you retire it."
        )
