"""The three built-in roles. The scope lists are written out here on purpose:
a migration must keep meaning what it meant when it was written."""

from django.db import migrations

SEARCH = ["mcp:search:code", "mcp:search:semantic"]
INDEX = ["mcp:index:create", "mcp:index:update", "mcp:index:delete"]
ADMIN = ["mcp:plugin:manage", "mcp:system:config", "mcp:user:manage"]

ROLES = [
    ("viewer", "Searches code.", SEARCH),
    ("developer", "Searches code and indexes repositories.", SEARCH + INDEX),
    ("admin", "Everything, including users, plugins and configuration.", SEARCH + INDEX + ADMIN),
]


def create_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for name, description, scopes in ROLES:
        Role.objects.update_or_create(
            name=name, defaults={"description": description, "scopes": scopes}
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
