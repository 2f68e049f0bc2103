import pytest
from django.urls import reverse

from accounts.models import Role
from tests.conftest import bearer
from tests.factories import UserFactory, login_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_role_uses_the_admin_site(admin_client):
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get(reverse("admin:accounts_user_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_role_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_loginsession_changelist")).status_code == 200


def test_other_roles_are_kept_out(client, developer):
    client.force_login(developer)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_user_list_searches_and_filters(admin_client, viewer):
    url = reverse("admin:accounts_user_changelist")
    page = admin_client.get(url, {"q": viewer.username, "role__id__exact": viewer.role_id})
    assert page.status_code == 200
    assert viewer.username in page.content.decode()


def test_role_form_offers_scopes_as_checkboxes_and_saves_them(admin_client):
    add_url = reverse("admin:accounts_role_add")
    form = admin_client.get(add_url).content.decode()
    assert 'type="checkbox"' in form and 'value="mcp:plugin:manage"' in form
    response = admin_client.post(
        add_url,
        {
            "name": "auditor",
            "description": "Reads",
            "scopes": ["mcp:search:code", "mcp:system:config"],
        },
    )
    assert response.status_code == 302
    assert Role.objects.get(name="auditor").scopes == ["mcp:search:code", "mcp:system:config"]


def test_admin_role_change_ends_the_users_access_tokens(admin_client, api_client, developer):
    tokens = login_tokens(developer)
    viewer_role = Role.objects.get(name="viewer")
    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[developer.pk]),
        {
            "username": developer.username,
            "email": "",
            "role": viewer_role.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    assert api_client.get("/auth/me", **bearer(tokens["access_token"])).status_code == 401


def test_admin_creates_users_with_a_role_and_resets_passwords(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newbie",
            "email": "",
            "role": Role.objects.get(name="developer").pk,
            "usable_password": "true",
            "password1": "a sturdy passphrase 7",
            "password2": "a sturdy passphrase 7",
        },
    )
    assert response.status_code == 302, response.content
    user = UserFactory._meta.model.objects.get(username="newbie")
    assert user.role.name == "developer" and user.password.startswith("argon2")

    reset = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {
            "usable_password": "true",
            "password1": "another passphrase 8",
            "password2": "another passphrase 8",
        },
    )
    assert reset.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another passphrase 8")


def test_log_out_everywhere_action(admin_client, api_client, viewer):
    tokens = login_tokens(viewer)
    admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "log_out_everywhere", "_selected_action": [viewer.pk]},
    )
    assert api_client.get("/auth/me", **bearer(tokens["access_token"])).status_code == 401


def test_login_sessions_can_be_revoked_but_not_edited(admin_client, api_client, viewer):
    tokens = login_tokens(viewer)
    session = viewer.login_sessions.get()
    page = admin_client.get(reverse("admin:accounts_loginsession_change", args=[session.pk]))
    assert page.status_code == 200
    assert session.refresh_jti not in page.content.decode()
    admin_client.post(
        reverse("admin:accounts_loginsession_changelist"),
        {"action": "revoke", "_selected_action": [str(session.pk)]},
    )
    assert api_client.get("/auth/me", **bearer(tokens["access_token"])).status_code == 401


def test_signing_keys_are_listed_read_only_and_rotated_from_the_admin(admin_client):
    from accounts.models import SigningKey
    from tests.factories import SIGNING_KID, SIGNING_SECRET

    page = admin_client.get(reverse("admin:accounts_signingkey_changelist"))
    assert page.status_code == 200
    assert SIGNING_KID in page.content.decode()
    detail = admin_client.get(
        reverse("admin:accounts_signingkey_change", args=[SigningKey.objects.get().pk])
    ).content.decode()
    assert SIGNING_SECRET not in detail and "encrypted_private_key" not in detail
    assert admin_client.get(reverse("admin:accounts_signingkey_add")).status_code == 403

    assert admin_client.get(reverse("admin:accounts_signingkey_rotate")).status_code == 405
    response = admin_client.post(
        reverse("admin:accounts_signingkey_rotate"), {"algorithm": "EdDSA"}
    )
    assert response.status_code == 302
    active = SigningKey.objects.get(state="active")
    assert active.algorithm == "EdDSA" and active.kid != SIGNING_KID
    admin_client.post(reverse("admin:accounts_signingkey_rotate"), {"algorithm": "none"})
    assert SigningKey.objects.get(state="active") == active


def test_only_admins_may_rotate(client, developer):
    from accounts.models import SigningKey

    client.force_login(developer)
    response = client.post(reverse("admin:accounts_signingkey_rotate"), {"algorithm": "ES256"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert SigningKey.objects.count() == 1
