"""One budget per caller for searches and file reads, by REST or MCP, atomic.

The review's findings: the MCP tool-call limit let 900 calls through a limit of 600 on the
database cache (its incr was a read, then a write), and the REST twins of the tools had
no limit at all (1,300 searches in 2.5 s with one key).
"""

import json
import threading
import time

import pytest
import requests

from tests.conftest import bearer
from tests.factories import UserFactory, api_key_for, login_tokens

pytestmark = pytest.mark.django_db


class _StartOfAMinute:
    """accounts.throttling's clock, held a few seconds into a minute: the budget is counted
    in fixed minutes, and a test must not straddle two."""

    def __init__(self):
        self.now = (time.time() // 60 + 1) * 60 + 5

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _one_minute(monkeypatch):
    from accounts import throttling

    monkeypatch.setattr(throttling, "time", _StartOfAMinute())


def tool_call(client, auth, name, arguments):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": name, "arguments": arguments}}  # fmt: skip
    return client.generic(
        "POST", "/mcp", json.dumps(message), content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_MCP_PROTOCOL_VERSION="2025-11-25", **auth,
    )  # fmt: skip


@pytest.mark.parametrize(
    "path",
    ["/api/search?q=total", "/api/symbols?q=InvoiceTotal", "FILE"],
    ids=["search", "symbols", "file"],
)
def test_rest_searches_and_file_reads_are_limited(
    api_client, indexed_repo, viewer_auth, settings, path
):
    settings.MCP_TOOL_CALLS_PER_MINUTE = 3
    if path == "FILE":
        path = f"/api/repositories/{indexed_repo.pk}/file?path=src/billing/invoice.py"
    assert [api_client.get(path, **viewer_auth).status_code for _ in range(3)] == [200] * 3
    limited = api_client.get(path, **viewer_auth)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) == 55
    assert "at most 3 a minute" in limited.json()["detail"]


def test_the_budget_is_shared_by_both_doors(api_client, indexed_repo, viewer, settings):
    settings.MCP_TOOL_CALLS_PER_MINUTE = 3
    key = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(viewer)}"}
    token = bearer(login_tokens(viewer)["access_token"])  # the same caller, another credential
    assert api_client.get("/api/search?q=total", **key).status_code == 200
    assert tool_call(api_client, token, "search_code", {"query": "total"}).status_code == 200
    assert api_client.get("/api/symbols?q=InvoiceTotal", **token).status_code == 200
    assert api_client.get("/api/search?q=total", **key).status_code == 429
    limited = tool_call(api_client, key, "get_file", {"repository": "shop", "path": "docs/guide.md"})
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == -32002
    # Another caller has a budget of its own.
    other = bearer(login_tokens(UserFactory(role__name="viewer"))["access_token"])
    assert api_client.get("/api/search?q=total", **other).status_code == 200


def test_refusals_for_credentials_and_scopes_come_first(api_client, indexed_repo, settings):
    settings.MCP_TOOL_CALLS_PER_MINUTE = 1
    assert api_client.get("/api/search?q=x").status_code == 401
    no_scope = UserFactory(role__name="viewer")
    token = bearer(login_tokens(no_scope, scopes=frozenset({"mcp:search:code"}))["access_token"])
    assert api_client.get("/api/search/semantic?q=x", **token).status_code == 403
    assert api_client.get("/api/search?q=total", **token).status_code == 200


def test_zero_means_no_limit(api_client, indexed_repo, viewer_auth, settings):
    settings.MCP_TOOL_CALLS_PER_MINUTE = 0
    statuses = {api_client.get("/api/search?q=total", **viewer_auth).status_code for _ in range(5)}
    assert statuses == {200}


@pytest.mark.django_db(transaction=True)
def test_parallel_calls_cannot_pass_the_limit(live_server, tmp_path, settings):
    """Over real HTTP, 16 threads at once: exactly the limit gets through."""
    from indexing.indexer import index_repository
    from indexing.models import Repository
    from tests.indexing.conftest import write_repo

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repository = Repository.objects.create(
        name="tiny", path=str(write_repo(tmp_path / "tiny", {"a.py": "x = 1\n"}))
    )
    index_repository(repository)
    settings.MCP_TOOL_CALLS_PER_MINUTE = 40
    settings.MCP_SEARCH_CACHE_SECONDS = 0
    key = api_key_for(UserFactory(role__name="viewer"))
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def caller():
        with requests.Session() as session:
            session.headers["X-API-Key"] = key
            barrier.wait()
            for _ in range(6):
                statuses.append(session.get(f"{live_server.url}/api/search?q=x", timeout=60).status_code)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 96
    assert statuses.count(200) == 40
    assert statuses.count(429) == 56
