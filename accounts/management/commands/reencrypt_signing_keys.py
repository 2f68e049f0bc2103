"""manage.py reencrypt_signing_keys: seal every signing key with the current KEK.

To change JWT_KEY_ENCRYPTION_KEY: move the old value to
JWT_KEY_ENCRYPTION_KEY_FALLBACKS, set the new one, run this, then drop the fallback.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts import services, signing


class Command(BaseCommand):
    help = "Re-encrypt all signing keys with the current JWT_KEY_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        try:
            count = services.signing_keys_reencrypt()
        except signing.KeyDecryptionError as exc:
            raise CommandError(
                f"{exc}: is the old KEK in JWT_KEY_ENCRYPTION_KEY_FALLBACKS?"
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} signing key(s)."))
