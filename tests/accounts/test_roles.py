import pytest
from django.core.exceptions import ValidationError

from accounts.models import Role
from accounts.scopes import MCP_SCOPES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_migration_creates_the_three_roles():
    roles = {role.name: set(role.scopes) for role in Role.objects.all()}
    assert roles["viewer"] == {"mcp:search:code", "mcp:search:semantic"}
    assert roles["developer"] == {
        "mcp:search:code",
        "mcp:search:semantic",
        "mcp:index:create",
        "mcp:index:update",
        "mcp:index:delete",
    }
    assert roles["admin"] == set(MCP_SCOPES)


def test_role_validation_refuses_unknown_scopes():
    role = Role(name="auditor", scopes=["mcp:search:code", "mcp:everything"])
    with pytest.raises(ValidationError) as excinfo:
        role.full_clean()
    assert "mcp:everything" in str(excinfo.value)


def test_role_validation_expands_aliases():
    role = Role(name="indexer", scopes=["index:write", "index:read"])
    role.full_clean()
    assert role.scopes == [
        "mcp:search:code",
        "mcp:index:create",
        "mcp:index:update",
        "mcp:index:delete",
    ]


def test_role_validation_refuses_a_non_list():
    role = Role(name="odd", scopes="mcp:search:code")
    with pytest.raises(ValidationError):
        role.full_clean()


def test_only_roles_holding_user_and_system_scopes_reach_the_admin_site():
    admin = UserFactory(role__name="admin")
    developer = UserFactory(role__name="developer")
    assert admin.is_staff and admin.is_superuser and admin.has_perm("accounts.change_user")
    assert not developer.is_staff and not developer.has_perm("accounts.change_user")
    admin.is_active = False
    assert not admin.is_staff


def test_new_users_default_to_the_least_privileged_role():
    from accounts.models import User

    user = User.objects.create_user("newcomer", "a long enough password 1")
    assert user.role.name == "viewer"
    assert user.password.startswith("argon2")
