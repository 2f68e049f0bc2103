"""Logging out everywhere ends browser (Django admin) sessions too, at once.

The review's finding: after POST /auth/logout-all answered 204, the user's admin
session cookie still opened /admin/; the admin's "log out everywhere" action had the
same gap. Logout-all, that action, deactivation and a password change must end every
browser session of the user.
"""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import bearer
from tests.factories import PASSWORD, UserFactory, login_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return UserFactory(username="operator", role__name="admin", with_password=True)


def signed_in(user: User, address: str = "127.0.0.1") -> Client:
    """A browser that signed in through the admin's login page."""
    browser = Client(REMOTE_ADDR=address)
    page = browser.post("/admin/login/", {"username": user.username, "password": PASSWORD})
    assert page.status_code == 302, page.content
    assert browser.get("/admin/").status_code == 200
    return browser


def signed_out(browser: Client) -> bool:
    page = browser.get("/admin/")
    return page.status_code == 302 and "/admin/login/" in page["Location"]


def test_logout_all_ends_the_users_admin_sessions(api_client, operator):
    laptop, phone = signed_in(operator, "10.0.0.1"), signed_in(operator, "10.0.0.2")
    token = login_tokens(operator)["access_token"]
    assert api_client.post("/auth/logout-all", **bearer(token)).status_code == 204
    assert signed_out(laptop) and signed_out(phone)
    # Signing in again works, and the new session is not ended by the old logout.
    again = signed_in(operator)
    assert again.get("/admin/").status_code == 200


def test_logout_all_leaves_other_users_sessions_alone(api_client, operator):
    other = UserFactory(username="other-admin", role__name="admin", with_password=True)
    theirs = signed_in(other)
    token = login_tokens(operator)["access_token"]
    assert api_client.post("/auth/logout-all", **bearer(token)).status_code == 204
    assert theirs.get("/admin/").status_code == 200


def test_the_admin_action_ends_browser_sessions_too(operator):
    target = UserFactory(username="target", role__name="admin", with_password=True)
    targets_browser = signed_in(target, "10.0.0.3")
    operators_browser = signed_in(operator, "10.0.0.4")
    page = operators_browser.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "log_out_everywhere", "_selected_action": [target.pk]},
        follow=True,
    )
    assert "browser sessions have ended" in page.content.decode()
    assert signed_out(targets_browser)
    assert operators_browser.get("/admin/").status_code == 200


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(operator):
    browser = signed_in(operator)
    operator.is_active = False
    operator.save()
    assert signed_out(browser)
    operator.is_active = True
    operator.save()
    assert signed_out(browser)


def test_a_password_change_ends_the_other_sessions_but_not_the_one_making_it(operator):
    elsewhere = signed_in(operator, "10.0.0.5")
    here = signed_in(operator, "10.0.0.6")
    page = here.post(
        f"/admin/accounts/user/{operator.pk}/password/",
        {
            "usable_password": "true",
            "password1": "another passphrase 8",
            "password2": "another passphrase 8",
        },
    )
    assert page.status_code == 302, page.content
    assert signed_out(elsewhere)
    assert here.get("/admin/").status_code == 200


def test_a_password_set_by_someone_else_ends_every_session_of_the_user(operator):
    target = UserFactory(username="target", role__name="admin", with_password=True)
    targets_browser = signed_in(target, "10.0.0.7")
    target.set_password("a brand new passphrase 9")
    target.save()
    assert signed_out(targets_browser)


def test_saving_a_copy_loaded_before_a_logout_all_does_not_revive_sessions(api_client, operator):
    browser = signed_in(operator)
    stale = User.objects.get(pk=operator.pk)  # e.g. an admin form open meanwhile
    token = login_tokens(operator)["access_token"]
    assert api_client.post("/auth/logout-all", **bearer(token)).status_code == 204
    stale.email = "operator@example.com"
    stale.save()
    assert signed_out(browser)
    assert User.objects.get(pk=operator.pk).email == "operator@example.com"
