from __future__ import annotations

from importlib import import_module

import factory

from accounts import services, signing
from accounts.models import Role, User

# The HMAC secret of the signing key every test starts with (see conftest).
SIGNING_SECRET = "test-signing-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SIGNING_KID = signing.kid_for_secret(SIGNING_SECRET)

# Argon2 on purpose (the real hasher), so only users that log in get a password.
PASSWORD = "correct horse battery staple"


# The built-in roles as their migration creates them: a test database flushed by a
# transactional test gets them back with the same scopes.
BUILT_IN_ROLES = {
    name: scopes
    for name, _description, scopes in import_module("accounts.migrations.0002_default_roles").ROLES
}


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ["name"]

    name = "viewer"
    scopes = factory.LazyAttribute(lambda role: list(BUILT_IN_ROLES.get(role.name, [])))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = factory.SubFactory(RoleFactory)
    password = "!unusable"

    @factory.post_generation
    def with_password(obj, create, extracted, **kwargs):
        if extracted:
            obj.set_password(PASSWORD if extracted is True else extracted)
            obj.save(update_fields=["password"])


def login_tokens(user: User, *, scopes: frozenset[str] | None = None) -> dict:
    """The token response of a login, without going through Argon2."""
    issued = services.session_start(user=user, requested_scopes=scopes, client_ip="127.0.0.1")
    return issued.as_response()


def api_key_for(user: User, scopes=("mcp:search:code",), **kwargs) -> str:
    """A new API key's secret for `user`."""
    _, secret = services.api_key_create(user=user, name="test key", scopes=scopes, **kwargs)
    return secret
