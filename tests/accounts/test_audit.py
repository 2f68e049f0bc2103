"""The audit trail: every listed event is written, with who, when, where and how it went;
never a secret; read-only in the admin; /api/audit for mcp:system:config."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts import services
from accounts.models import ApiKey, AuditEvent, Role
from indexing import services as indexing_services
from indexing.indexer import index_repository
from indexing.models import Repository
from tests.conftest import bearer, post_form
from tests.factories import PASSWORD, UserFactory, api_key_for, login_tokens
from tests.indexing.conftest import _on_commit_runs_at_once, write_repo  # noqa: F401


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def last(action: str) -> AuditEvent:
    found = events(action)
    assert found, f"no {action} event"
    return found[-1]


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", role__name="developer", with_password=True)


def login(client, username, password, **extra):
    return post_form(client, "/auth/login", {"username": username, "password": password}, **extra)


def test_login_success_and_failure(api_client, alice):
    assert login(api_client, "alice", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 200
    ok = last("login")
    assert (ok.outcome, ok.actor_id, ok.actor_name, str(ok.ip)) == (
        "success",
        alice.pk,
        "alice",
        "10.1.2.3",
    )
    assert ok.detail["via"] == "api" and "mcp:index:create" in ok.detail["scopes"]
    assert login(api_client, "alice", "wrong password", REMOTE_ADDR="10.9.9.9").status_code == 401
    failed = last("login")
    assert (failed.outcome, failed.actor_name, str(failed.ip)) == ("failure", "alice", "10.9.9.9")
    assert failed.detail["reason"] == "bad_credentials"
    assert login(api_client, "nobody", "x").status_code == 401
    unknown = last("login")
    assert unknown.actor_name.startswith("unknown:") and "nobody" not in unknown.actor_name


def test_a_name_no_account_has_is_kept_as_a_digest_that_can_still_be_found(api_client, alice):
    """People type their password into the username field: the trail must not keep it."""
    admin_auth = bearer(
        login_tokens(UserFactory(username="root", role__name="admin"))["access_token"]
    )
    typed = "Tr0ub4dor&3-my-password"
    for _ in range(2):
        assert login(api_client, typed, "x").status_code == 401
    events = AuditEvent.objects.filter(action="login", outcome="failure")
    names = set(events.values_list("actor_name", flat=True))
    assert len(names) == 1 and typed not in next(iter(names))  # the same digest twice
    assert not any(
        typed in str(value)
        for row in events.values("actor_name", "target", "target_id", "detail")
        for value in row.values()
    )
    found = api_client.get("/api/audit", {"action": "login", "actor": typed}, **admin_auth)
    assert found.status_code == 200
    assert [e["actor"]["username"] for e in found.json()["results"]] == [next(iter(names))] * 2
    assert (
        api_client.get("/api/audit", {"actor": "someone-else"}, **admin_auth).json()["results"]
        == []
    )


def test_names_recorded_before_a_secret_key_rotation_are_still_found(api_client, alice, settings):
    admin_auth = bearer(
        login_tokens(UserFactory(username="root", role__name="admin"))["access_token"]
    )
    login(api_client, "mallory", "guess")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old_key]
    login(api_client, "mallory", "again")
    found = api_client.get("/api/audit", {"action": "login", "actor": "mallory"}, **admin_auth)
    assert len(found.json()["results"]) == 2


def test_a_typed_name_reaches_the_throttle_cache_only_keyed():
    """The throttle counts failures per username in the shared cache, which on the embedded
    default is a database table: an unkeyed hash of a typed password could be reversed."""
    import hashlib

    from accounts import throttling

    typed = "Tr0ub4dor&3-my-password"
    bucket = throttling._username_bucket(typed)
    assert hashlib.sha256(typed.casefold().encode()).hexdigest()[:32] not in bucket
    assert bucket.endswith(throttling.username_digest(typed)) and typed not in bucket


def test_a_lockout_is_one_event_not_one_per_attempt(api_client, alice, settings):
    for _ in range(settings.MCP_AUTH["LOGIN_FAILURE_LIMIT"]):
        login(api_client, "alice", "wrong", REMOTE_ADDR="10.0.0.1")
    for _ in range(5):
        assert login(api_client, "alice", "wrong", REMOTE_ADDR="10.0.0.1").status_code == 429
    reasons = [event.detail["reason"] for event in events("login")]
    assert reasons.count("bad_credentials") == settings.MCP_AUTH["LOGIN_FAILURE_LIMIT"]
    assert reasons.count("locked") == 1


def test_admin_logins_are_recorded_too(alice):
    admin = UserFactory(username="root", role__name="admin", with_password=True)
    browser = Client()
    browser.post("/admin/login/", {"username": "root", "password": "nope"})
    assert last("login").detail == {"reason": "bad_credentials", "via": "admin"}
    browser.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert (last("login").outcome, last("login").actor_id) == ("success", admin.pk)


def test_refresh_reuse_logout_and_logout_all(api_client, alice):
    tokens = login_tokens(alice)
    post_form(api_client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    post_form(api_client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})  # reuse
    reuse = last("refresh_reuse")
    assert (
        reuse.outcome == "failure" and reuse.actor_id == alice.pk and reuse.target_type == "session"
    )
    fresh = login_tokens(alice)
    assert api_client.post("/auth/logout", **bearer(fresh["access_token"])).status_code == 204
    assert last("logout").actor_id == alice.pk
    other = login_tokens(alice)
    assert api_client.post("/auth/logout-all", **bearer(other["access_token"])).status_code == 204
    assert last("logout_all").actor_id == alice.pk


def test_api_keys_created_revoked_and_replayed(api_client, alice):
    auth = bearer(login_tokens(alice)["access_token"])
    created = api_client.post(
        "/api/keys", {"name": "ci", "scopes": ["index:read"]}, format="json", **auth
    )
    secret = created.json()["key"]
    event = last("api_key.create")
    assert (
        event.actor_id == alice.pk and event.target == secret[:12] and event.detail["name"] == "ci"
    )
    key_id = created.json()["id"]
    assert api_client.delete(f"/api/keys/{key_id}", **auth).status_code == 204
    assert last("api_key.revoke").target_id == str(key_id)
    for _ in range(5):
        assert (
            api_client.get(
                "/auth/me", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.6.6.6"
            ).status_code
            == 401
        )
    replays = events("api_key.revoked_used")
    assert len(replays) == 1  # once a minute per key, however often it is replayed
    assert replays[0].outcome == "failure" and str(replays[0].ip) == "10.6.6.6"
    assert replays[0].target == secret[:12]


def test_role_scope_and_activity_changes_through_the_admin(alice):
    admin = UserFactory(username="root", role__name="admin", with_password=True)
    browser = Client()
    browser.force_login(admin)
    alice.refresh_from_db()
    alice.role = Role.objects.get(name="viewer")
    alice.save()
    change = last("user.role_change")
    assert change.detail == {"from": "developer", "to": "viewer"} and change.target == "alice"
    alice.is_active = False
    alice.save()
    assert last("user.deactivate").target_id == str(alice.pk)
    alice.is_active = True
    alice.save()
    assert last("user.activate").target == "alice"
    viewer = Role.objects.get(name="viewer")
    viewer.scopes = ["mcp:search:code"]
    viewer.save()
    assert last("role.scopes_change").detail == {"added": [], "removed": ["mcp:search:semantic"]}


def test_changes_made_in_a_request_name_who_made_them(api_client, alice, settings):
    admin = UserFactory(username="root", role__name="admin", with_password=True)
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        f"/admin/accounts/user/{alice.pk}/change/",
        {
            "username": "alice",
            "role": Role.objects.get(name="viewer").pk,
            "is_active": "on",
            "email": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    change = last("user.role_change")
    assert (change.actor_id, change.actor_name, change.auth_method) == (admin.pk, "root", "session")
    assert change.detail == {"from": "developer", "to": "viewer"}


def test_signing_keys_rotated_and_retired(db):
    key = services.signing_key_rotate(algorithm="ES256")
    event = last("signing_key.rotate")
    assert event.target == key.kid and event.detail["algorithm"] == "ES256"
    services.signing_key_rotate()
    services.signing_key_retire(kid=key.kid, force=True)
    assert last("signing_key.retire").detail == {"forced": True}


def test_repositories_indexed_and_deleted_and_plugins_switched(api_client, tmp_path, settings):
    admin = UserFactory(username="root", role__name="admin")
    auth = bearer(login_tokens(admin)["access_token"])
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "shop", {"a.py": "def f():\n    pass\n"})
    repository, job = indexing_services.repository_register(
        raw_path=str(repo), name=None, user=admin
    )
    indexing_services.job_run(job_id=job.pk, requeue=False)
    indexed = last("repository.index")
    assert indexed.outcome == "success" and indexed.actor_id == admin.pk
    assert indexed.detail == {"job": job.pk, "added": 1, "changed": 0, "removed": 0}
    assert api_client.delete(f"/api/repositories/{repository.pk}", **auth).status_code == 204
    deleted = last("repository.delete")
    assert deleted.target == "shop" and deleted.actor_id == admin.pk
    api_client.patch("/api/plugins/python", {"enabled": False}, format="json", **auth)
    api_client.patch("/api/plugins/python", {"enabled": True}, format="json", **auth)
    assert [e.target for e in events("plugin.disable") + events("plugin.enable")] == [
        "python",
        "python",
    ]


def test_a_failed_index_job_is_recorded_as_a_failure(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "gone", {"a.py": "x = 1\n"})
    _repository, job = indexing_services.repository_register(
        raw_path=str(repo), name=None, user=None
    )
    for child in repo.iterdir():
        child.unlink()
    repo.rmdir()
    indexing_services.job_run(job_id=job.pk, requeue=False)
    failed = last("repository.index")
    assert failed.outcome == "failure" and failed.detail["error"]


def test_no_secret_ever_reaches_the_trail(api_client, alice):
    tokens = login_tokens(alice)
    post_form(api_client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    secret = api_key_for(alice)
    api_client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    services.api_key_revoke(api_key=ApiKey.objects.get(user=alice))
    api_client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    login(api_client, "alice", "a wrong password typed")
    key = ApiKey.objects.get(user=alice)
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    for forbidden in (secret, tokens["access_token"], tokens["refresh_token"], PASSWORD,
                      "a wrong password typed", key.key_hash, secret[12:]):  # fmt: skip
        assert forbidden not in dumped


def test_secret_looking_details_are_dropped(db):
    from accounts import audit

    event = audit.record("login", detail={"password": "x", "refresh_token": "y", "name": "ok"})
    assert event.detail == {"name": "ok"}


# --- /api/audit ------------------------------------------------------------------------------


def test_the_api_needs_system_config(api_client, alice):
    assert api_client.get("/api/audit").status_code == 401
    response = api_client.get("/api/audit", **bearer(login_tokens(alice)["access_token"]))
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission required: mcp:system:config"}


def test_the_api_filters_and_pages(api_client, alice):
    admin = UserFactory(username="root", role__name="admin")
    auth = bearer(login_tokens(admin)["access_token"])
    for _ in range(3):
        login(api_client, "alice", "wrong")
    login(api_client, "alice", PASSWORD)
    body = api_client.get(
        "/api/audit", {"action": "login", "outcome": "failure", "limit": 2}, **auth
    ).json()
    assert [event["outcome"] for event in body["results"]] == ["failure", "failure"]
    assert body["results"][0]["actor"] == {"id": None, "username": "alice"}
    following = api_client.get(body["next"], **auth).json()
    assert len(following["results"]) == 1 and following["next"] is None
    mine = api_client.get("/api/audit", {"actor": "alice", "outcome": "success"}, **auth).json()
    assert {event["action"] for event in mine["results"]} == {"login"}
    by_id = api_client.get(
        "/api/audit", {"actor_id": alice.pk, "action": ["login", "logout"]}, **auth
    )
    assert by_id.status_code == 200 and by_id.json()["results"]


@pytest.mark.parametrize(
    "params",
    [
        {"action": "drop_tables"},
        {"outcome": "maybe"},
        {"since": "yesterday"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"ip": "not-an-ip"},
        {"limit": "many"},
        {"limit": 0},
        {"cursor": "garbage"},
        {"actor": "x" * 151},
    ],
)
def test_the_api_refuses_bad_filters(api_client, params):
    admin = UserFactory(username="root", role__name="admin")
    response = api_client.get("/api/audit", params, **bearer(login_tokens(admin)["access_token"]))
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {*params, "non_field_errors"}


def test_the_admin_is_read_only(alice):
    admin = UserFactory(username="root", role__name="admin")
    browser = Client()
    browser.force_login(admin)
    login(Client(), "alice", "wrong")
    event = last("login")
    assert browser.get("/admin/accounts/auditevent/").status_code == 200
    assert (
        browser.get("/admin/accounts/auditevent/?action=login&outcome=failure").status_code == 200
    )
    assert browser.get(f"/admin/accounts/auditevent/{event.pk}/change/").status_code == 200
    assert browser.get("/admin/accounts/auditevent/add/").status_code == 403
    assert (
        browser.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_admin_finds_a_failed_login_by_the_name_typed(alice):
    admin = UserFactory(username="root", role__name="admin")
    browser = Client()
    browser.force_login(admin)
    login(Client(), "mallory", "guess")
    login(Client(), "alice", "wrong")
    digest = AuditEvent.objects.get(action="login", actor_name__startswith="unknown:").actor_name

    def listed(q):
        page = browser.get("/admin/accounts/auditevent/", {"q": q})
        assert page.status_code == 200
        return page.context["cl"].result_count

    assert listed("mallory") == 1 and listed('"mallory"') == 1  # as typed, and quoted
    assert listed(digest) == 1
    assert listed("alice") == 1  # a real account: by its name, as before
    assert listed("trudy") == 0


def test_index_repository_by_command_is_recorded_without_an_actor(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repository = Repository.objects.create(
        name="r", path=str(write_repo(tmp_path / "r", {"a.txt": "x\n"}))
    )
    index_repository(repository)  # the foreground path, no job: nothing to attribute
    assert not events("repository.index")


def test_the_authentication_path_writes_no_event(api_client, alice):
    """A good credential costs no audit write; only refusals of revoked keys do (bounded)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    secret = api_key_for(alice)
    access = login_tokens(alice)["access_token"]
    api_client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {secret}")  # warm the key cache
    for auth in (f"Bearer {secret}", f"Bearer {access}"):
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get("/api/repositories", HTTP_AUTHORIZATION=auth).status_code == 200
        assert not [q for q in queries if "accounts_auditevent" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_the_migration_digests_names_recorded_before(alice, monkeypatch):
    import importlib

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from accounts.audit import unknown_login_name

    migration = importlib.import_module("accounts.migrations.0006_audit_unknown_login_name")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches, names split across them
    before = ("accounts", "0005_audit_events")
    MigrationExecutor(connection).migrate([before])
    try:
        typed = ["hunter2", "alice", "hunter2", "unknown:not-a-digest", "UNKNOWN:abc", "hunter2"]
        failed = [
            AuditEvent.objects.create(action="login", outcome="failure", actor_name=name).pk
            for name in typed
        ]
        other = AuditEvent.objects.create(action="logout", actor_name="hunter2").pk
    finally:
        # Forward through 0006 to the latest migrations: later tests need the whole schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    names = dict(AuditEvent.objects.values_list("pk", "actor_name"))
    assert [names[pk] for pk in failed] == [
        unknown_login_name("hunter2"),
        "alice",  # an account's name stays
        unknown_login_name("hunter2"),
        unknown_login_name("unknown:not-a-digest"),
        unknown_login_name("UNKNOWN:abc"),
        unknown_login_name("hunter2"),
    ]
    assert names[other] == "hunter2"  # only failed logins are rewritten
