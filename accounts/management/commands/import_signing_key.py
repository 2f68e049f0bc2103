"""manage.py import_signing_key (--pem FILE | --from-env)

Makes an existing key the active signing key (the current one becomes
verify-only). --from-env takes JWT_SECRET_KEY and keeps the kid that tokens
signed with it already carry, so a deployment that signed with an
environment secret keeps its tokens valid. Prints no secret.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import services, signing
from accounts.exceptions import RevocationStoreUnavailable
from accounts.models import SigningKey


class Command(BaseCommand):
    help = "Import a signing key from a PEM file or from JWT_SECRET_KEY."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--pem", type=Path, help="A private key: RSA, EC P-256 or Ed25519.")
        source.add_argument("--from-env", action="store_true", help="Use JWT_SECRET_KEY.")
        parser.add_argument("--algorithm", choices=signing.ALGORITHMS, default=None)

    def handle(self, *args, pem, from_env, algorithm, **options):
        try:
            if from_env:
                if not settings.JWT_SECRET_KEY:
                    raise CommandError("JWT_SECRET_KEY is not set.")
                if algorithm not in (None, "HS256"):
                    raise CommandError("JWT_SECRET_KEY is an HMAC secret: its algorithm is HS256.")
                material, kid = services.env_secret_material()
                source = "environment"
                if SigningKey.objects.filter(kid=kid).exists():
                    raise CommandError(f"JWT_SECRET_KEY is imported already, as {kid}.")
            else:
                try:
                    data = pem.read_bytes()
                except OSError as exc:
                    raise CommandError(f"Cannot read {pem}: {exc.strerror}.") from None
                material = signing.from_pem(data, algorithm)
                kid, source = signing.new_kid(), "pem-file"
            key = services.signing_key_rotate(material=material, kid=kid, source=source)
        except TypeError:
            raise CommandError("Encrypted PEM files are not supported: decrypt it first.") from None
        except (ValueError, RevocationStoreUnavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Imported {key.kid} ({key.algorithm}); it signs from now on.")
        )
