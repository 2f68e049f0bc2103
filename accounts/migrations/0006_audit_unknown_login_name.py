"""Failed logins name a username no account has by a keyed digest (accounts.audit.
login_name): what people type there is sometimes their password. Events recorded before
keep what was typed; this rewrites them the same way, so the digest is found by the
name through /api/audit and the admin as new ones are."""

from django.db import migrations, models
from django.utils.crypto import salted_hmac

# Names per query: under SQLite's oldest limit of 999 parameters.
BATCH = 500
# As accounts.audit has them today (a migration must not change when that module does).
UNKNOWN_LOGIN_PREFIX = "unknown:"
DIGEST = r"^unknown:[0-9a-f]{16}$"


def unknown_login_name(typed):
    digest = salted_hmac("accounts.audit.unknown-login", typed, algorithm="sha256")
    return UNKNOWN_LOGIN_PREFIX + digest.hexdigest()[:16]


def digest_unknown_login_names(apps, schema_editor):
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    User = apps.get_model("accounts", "User")
    # Only what this migration writes is skipped: a typed name may itself start "unknown:".
    failed = (
        AuditEvent.objects.filter(action="login", outcome="failure")
        .exclude(actor_name="")
        .exclude(actor_name__regex=DIGEST)
    )
    last = 0
    while True:
        rows = list(failed.filter(pk__gt=last).order_by("pk").values_list("pk", "actor_name")[:BATCH])
        if not rows:
            return
        last = rows[-1][0]
        by_name = {}
        for pk, name in rows:
            by_name.setdefault(name, []).append(pk)
        known = set(User.objects.filter(username__in=list(by_name)).values_list("username", flat=True))
        for name, pks in by_name.items():
            if name not in known:
                AuditEvent.objects.filter(pk__in=pks).update(actor_name=unknown_login_name(name))


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_audit_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor_name",
            field=models.CharField(
                blank=True,
                help_text="The username then (a failed login with a name no account had: unknown: and a keyed digest of it).",
                max_length=150,
            ),
        ),
        # Irreversible by design: the names cannot be read back from their digests.
        migrations.RunPython(digest_unknown_login_names, migrations.RunPython.noop),
    ]
