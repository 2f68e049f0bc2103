"""manage.py list_signing_keys: kid, algorithm, state, dates. Never a secret."""

from django.core.management.base import BaseCommand

from accounts.models import SigningKey


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = "List signing keys, and whether tokens they signed may still be alive."

    def handle(self, *args, **options):
        rows = [("KID", "ALG", "STATE", "CREATED", "ACTIVATED", "DEMOTED", "RETIRED", "TOKENS")]
        for key in SigningKey.objects.order_by("-created_at"):
            rows.append(
                (
                    key.kid,
                    key.algorithm,
                    key.state,
                    _when(key.created_at),
                    _when(key.activated_at),
                    _when(key.demoted_at),
                    _when(key.retired_at),
                    "may be alive" if key.tokens_may_be_alive() else "none alive",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
