"""The login throttle: addresses are locked, names are only slowed, and a refused
attempt writes nothing (accounts/throttling.py)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.settings import api_settings

from tests.cache_helpers import cache_entries
from tests.conftest import post_form
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/auth/login"
LIMIT = settings.MCP_AUTH["LOGIN_FAILURE_LIMIT"]


def login(client, username, password, **extra):
    return post_form(client, LOGIN, {"username": username, "password": password}, **extra)


@pytest.fixture
def alice():
    return UserFactory(username="alice", with_password=True)


class Clock:
    """accounts.throttling's clock, moved on by hand instead of sleeping."""

    def __init__(self):
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch):
    from accounts import throttling

    fake = Clock()
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def test_failures_at_one_address_do_not_lock_the_owner_out_at_another(api_client, alice):
    """The review's finding: five wrong passwords used to lock the name everywhere."""
    for _ in range(LIMIT):
        assert login(api_client, "alice", "wrong", REMOTE_ADDR="203.0.113.66").status_code == 401
    # From an address the owner never used before, at once.
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 200
    # The attacker's address is locked, whatever it tries.
    locked = login(api_client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.66")
    assert locked.status_code == 429
    assert 1 <= int(locked["Retry-After"]) <= 900
    assert "Too many failed logins from this address" in locked.json()["detail"]


def test_lockout_per_client_address(api_client, alice):
    for attempt in range(LIMIT):
        assert (
            login(api_client, f"ghost{attempt}", "wrong", REMOTE_ADDR="10.9.9.9").status_code == 401
        )
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.9.9.9").status_code == 429
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.9.9.10").status_code == 200


def test_a_spread_out_attack_is_slowed_but_the_owner_at_home_is_not(api_client, alice, clock):
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.1.2").status_code == 200  # home
    # One failure each from many addresses: past LIMIT, each one closes the name for
    # 1, 2, 4 ... seconds. A patient attacker waits out each one.
    for attempt in range(LIMIT + 3):
        clock.advance(60)
        response = login(api_client, "alice", "wrong", REMOTE_ADDR=f"10.0.0.{attempt + 1}")
        assert response.status_code == 401
    # Impatience does not pay.
    assert login(api_client, "alice", "guess", REMOTE_ADDR="10.0.0.99").status_code == 429
    # A new address waits, even with the right password (its try is not even checked).
    waiting = login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.2.1")
    assert waiting.status_code == 429
    assert int(waiting["Retry-After"]) == 4
    assert "wait before trying again" in waiting.json()["detail"]
    assert login(api_client, "ALICE", "guess", REMOTE_ADDR="10.0.2.2").status_code == 429
    # Other names are not affected.
    assert login(api_client, "bob", "guess", REMOTE_ADDR="10.0.2.3").status_code == 401
    # The owner, where they signed in before, is never held up.
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.1.2").status_code == 200
    # Once the wait is over, the next guess is checked, and a failure doubles the wait.
    clock.advance(4.5)
    assert login(api_client, "alice", "wrong", REMOTE_ADDR="10.0.2.4").status_code == 401
    assert int(login(api_client, "alice", "x", REMOTE_ADDR="10.0.2.5")["Retry-After"]) == 8
    clock.advance(8.5)
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.0.2.6").status_code == 200


@override_settings(MCP_AUTH={**settings.MCP_AUTH, "LOGIN_DELAY_MAX": timedelta(seconds=30)})
def test_the_wait_has_a_ceiling(api_client, alice, clock):
    for attempt in range(LIMIT + 12):  # 2 ** 11 seconds, were there no ceiling
        clock.advance(60)  # each guess waits its turn, as a patient attacker would
        assert login(api_client, "alice", "wrong", REMOTE_ADDR=f"10.2.{attempt}.1").status_code == 401
    waiting = login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.3.0.1")
    assert waiting.status_code == 429 and int(waiting["Retry-After"]) == 30
    clock.advance(30.5)
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.3.0.1").status_code == 200


def test_a_wait_writes_nothing(api_client, alice, clock):
    for attempt in range(LIMIT + 1):
        clock.advance(60)
        login(api_client, "alice", "wrong", REMOTE_ADDR=f"10.4.0.{attempt + 1}")
    login(api_client, "alice", "x", REMOTE_ADDR="10.4.1.1")  # the address's one audit marker
    before = cache_entries()
    for _ in range(50):
        assert login(api_client, "alice", "x", REMOTE_ADDR="10.4.1.1").status_code == 429
    assert cache_entries() == before


@override_settings(
    MCP_AUTH={
        **settings.MCP_AUTH,
        # Whole seconds: the database cache stores expiry times to the second.
        "LOGIN_FAILURE_WINDOW": timedelta(seconds=4),
    }
)
def test_lockout_ends_when_the_window_passes(api_client, alice):
    started = time.monotonic()
    for _ in range(LIMIT):
        login(api_client, "alice", "wrong")
    locked = login(api_client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) <= 4
    time.sleep(max(0, started + 5.2 - time.monotonic()))
    assert login(api_client, "alice", PASSWORD).status_code == 200


def test_a_success_gives_the_address_its_slot_back_but_not_its_failures(api_client, alice):
    for _ in range(LIMIT - 2):
        login(api_client, "alice", "wrong", REMOTE_ADDR="10.1.0.1")
    for _ in range(3):
        assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.1.0.1").status_code == 200
    assert login(api_client, "alice", "wrong", REMOTE_ADDR="10.1.0.1").status_code == 401
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.1.0.1").status_code == 200
    # That was the address's LIMIT-th failure in the window.
    assert login(api_client, "alice", "wrong", REMOTE_ADDR="10.1.0.1").status_code == 401
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.1.0.1").status_code == 429


def test_a_locked_address_writes_nothing_however_many_names_it_tries(api_client, alice):
    """What unauthenticated traffic can write is bounded by addresses, not by names."""
    for attempt in range(LIMIT):
        login(api_client, f"name{attempt}", "wrong", REMOTE_ADDR="192.0.2.50")
    before = cache_entries()
    for attempt in range(200):
        response = login(api_client, f"new-name-{attempt}", "x", REMOTE_ADDR="192.0.2.50")
        assert response.status_code == 429
    assert cache_entries() == before + 1  # one audit marker: "this address is locked"


def test_what_one_address_writes_is_bounded(api_client, alice):
    before = cache_entries()
    for attempt in range(100):
        login(api_client, f"name{attempt}", "wrong", REMOTE_ADDR="192.0.2.51")
    # The address's slots, window start and hint; per failure a name's counter (and, past
    # the limit, its wait); one audit marker. Not one per request.
    assert cache_entries() - before <= LIMIT + 2 + 2 * LIMIT + 1


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1})
@pytest.mark.parametrize("forwarded", ["not-an-ip", "", "1.2.3.4, <script>", "::1%eth0" * 50])
def test_requests_without_a_usable_address_share_one_bucket(api_client, alice, forwarded):
    for attempt in range(LIMIT):
        response = login(api_client, f"ghost{attempt}", "wrong", HTTP_X_FORWARDED_FOR=forwarded)
        assert response.status_code == 401
    assert login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR=forwarded).status_code == 429
    assert login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="garbage").status_code == 429
    assert login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(api_client, alice):
    assert api_settings.NUM_PROXIES == 0
    for attempt in range(LIMIT):
        # An attacker rotating X-Forwarded-For still counts against its real address.
        login(api_client, f"ghost{attempt}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
    assert (
        login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    )


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1})
def test_forwarded_for_counts_behind_a_trusted_proxy(api_client, alice):
    for attempt in range(LIMIT):
        login(
            api_client,
            f"ghost{attempt}",
            "wrong",
            HTTP_X_FORWARDED_FOR="203.0.113.7",
            REMOTE_ADDR="10.0.0.1",
        )
    blocked = login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert blocked.status_code == 429
    # Another client behind the same proxy is not locked out.
    assert (
        login(api_client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200
    )


def test_parallel_guesses_cannot_pass_the_limit(live_server, alice):
    """Attempts are counted before Argon2 runs, so a burst gets LIMIT tries, not more."""
    import threading

    import requests

    statuses = []
    barrier = threading.Barrier(12)

    def guess(n):
        barrier.wait()
        response = requests.post(
            f"{live_server.url}{LOGIN}",
            data={"username": "alice", "password": f"guess {n}"},
            timeout=60,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(401) <= LIMIT
    assert statuses.count(429) >= 12 - LIMIT


def test_ipv6_clients_are_counted_per_64(api_client, alice):
    for attempt in range(LIMIT):
        login(api_client, f"ghost{attempt}", "wrong", REMOTE_ADDR=f"2001:db8:1:2::{attempt + 1}")
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="2001:db8:1:2::ffff").status_code == 429
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def test_admin_login_page_is_throttled_too(client, alice):
    from accounts.models import Role

    alice.role = Role.objects.get(name="admin")
    alice.save()
    for _ in range(LIMIT):
        page = client.post("/admin/login/", {"username": "alice", "password": "wrong"})
        assert page.status_code == 200  # the form again, with an error
    # The right password is refused too from this address until the window passes.
    page = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert page.status_code == 200
    assert "_auth_user_id" not in client.session


def test_admin_login_page_lets_the_right_password_in(client, alice):
    from accounts.models import Role

    alice.role = Role.objects.get(name="admin")
    alice.save()
    page = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert page.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
