"""Repeated searches are answered from each process's memory until the index changes."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indexing.indexer import index_repository
from search import engine
from tests.indexing.conftest import touch_later


def index_reads(client, auth, path, **params):
    """The response, and how many queries it sent to the index tables."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params, **auth)
    assert response.status_code == 200, response.content
    touched = [q for q in queries if "indexing_chunk" in q["sql"] or "indexing_symbol" in q["sql"]]
    return response.json(), len(touched)


def test_a_repeated_search_is_not_run_again(api_client, indexed_repo, viewer_auth):
    first, first_reads = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    again, again_reads = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert first_reads > 0 and again_reads == 0
    assert again == first
    # Different parameters are a different search.
    _, other_reads = index_reads(api_client, viewer_auth, "/api/search", q="compute_total", limit=1)
    assert other_reads > 0


def test_a_new_generation_is_seen_at_once(api_client, indexed_repo, viewer_auth, tmp_path):
    paths = lambda body: {hit["path"] for hit in body["hits"]}  # noqa: E731
    before, _ = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert paths(before) == {"src/billing/invoice.py", "docs/guide.md"}
    touch_later(tmp_path / "shop" / "docs" / "guide.md", "# Guide\nnothing here\n")
    index_repository(indexed_repo)
    after, reads = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert reads > 0 and paths(after) == {"src/billing/invoice.py"}


def test_symbols_follow_the_index_too(api_client, indexed_repo, viewer_auth, tmp_path):
    names = lambda body: {s["name"] for s in body["symbols"]}  # noqa: E731
    before, _ = index_reads(api_client, viewer_auth, "/api/symbols", q="getCurrentUser")
    assert names(before) == {"getCurrentUser"}
    touch_later(tmp_path / "shop" / "src" / "billing" / "invoice.py", "def other():\n    pass\n")
    index_repository(indexed_repo)
    after, _ = index_reads(api_client, viewer_auth, "/api/symbols", q="getCurrentUser")
    assert names(after) == set()


def test_a_renamed_or_deleted_repository_is_seen_at_once(api_client, indexed_repo, viewer_auth):
    before, _ = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert {hit["repository"]["name"] for hit in before["hits"]} == {"shop"}
    indexed_repo.name = "store"
    indexed_repo.save()
    renamed, _ = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert {hit["repository"]["name"] for hit in renamed["hits"]} == {"store"}
    indexed_repo.delete()
    gone, _ = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert gone["hits"] == []


def test_it_can_be_turned_off(api_client, indexed_repo, viewer_auth, settings):
    settings.MCP_SEARCH_CACHE_SECONDS = 0
    index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    _, reads = index_reads(api_client, viewer_auth, "/api/search", q="compute_total")
    assert reads > 0


def test_errors_are_not_remembered(api_client, indexed_repo, viewer_auth):
    for _ in range(2):
        response = api_client.get("/api/search", {"q": "x", "repo": "nope"}, **viewer_auth)
        assert response.status_code == 400


@pytest.mark.parametrize("windows", [True, False], ids=["windows", "one-query"])
@pytest.mark.parametrize("q", ["filler line", "line 1", "needle"])
def test_small_candidate_windows_page_to_the_same_end(indexed_repo, monkeypatch, q, windows):
    """PostgreSQL asks the index for growing windows of chunk ids, or for all of them at
    once when the planner would not use windows; with tiny windows and batches the pages
    must still add up to every match, in order, either way."""

    def every_hit():
        hits, cursor = [], None
        while True:
            result = engine.search(engine.Query(q=q, limit=7, cursor=cursor))
            hits += [(hit.path, hit.line) for hit in result.hits]
            if not (cursor := result.next_cursor):
                return hits

    expected = every_hit()
    monkeypatch.setattr(engine, "PG_FIRST_WINDOW", 1)
    monkeypatch.setattr(engine, "TEXT_BATCH", 1)
    monkeypatch.setattr(engine, "FIRST_BATCH", 1)
    monkeypatch.setattr(engine, "CANDIDATE_BATCH", 2)
    monkeypatch.setattr(engine, "_postgres_windows_help", lambda *_args: windows)
    assert every_hit() == expected
    assert expected and expected == sorted(set(expected), key=expected.index)


def mcp_call_reads(client, auth, name, arguments):
    """An MCP tools/call's structured result, and how many index queries it sent."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    body["params"] = {"name": name, "arguments": arguments}
    with CaptureQueriesContext(connection) as queries:
        response = client.generic(
            "POST", "/mcp", json.dumps(body), content_type="application/json",
            HTTP_ACCEPT="application/json, text/event-stream",
            HTTP_MCP_PROTOCOL_VERSION="2025-11-25", **auth,
        )  # fmt: skip
    assert response.status_code == 200, response.content
    touched = [q for q in queries if "indexing_chunk" in q["sql"] or "indexing_symbol" in q["sql"]]
    return response.json()["result"]["structuredContent"], len(touched)


def test_mcp_tool_calls_are_answered_from_the_same_memory(
    api_client, indexed_repo, viewer_auth, tmp_path
):
    first, first_reads = mcp_call_reads(
        api_client, viewer_auth, "search_code", {"query": "compute_total", "language": "py"}
    )
    again, again_reads = mcp_call_reads(
        api_client, viewer_auth, "search_code", {"query": "compute_total", "language": "py"}
    )
    assert first_reads > 0 and again_reads == 0 and again == first
    # The REST twin asking the same thing (lang=Python is what py means) shares the entry.
    rest, rest_reads = index_reads(
        api_client, viewer_auth, "/api/search", q="compute_total", lang="Python"
    )
    assert rest_reads == 0 and rest == first
    symbols, _ = mcp_call_reads(api_client, viewer_auth, "search_symbols", {"name": "gcu"})
    _, symbol_reads = mcp_call_reads(api_client, viewer_auth, "search_symbols", {"name": "gcu"})
    assert symbol_reads == 0 and symbols["symbols"][0]["name"] == "getCurrentUser"
    # A new generation is seen by the tool at once.
    touch_later(tmp_path / "shop" / "src" / "billing" / "invoice.py", "def other():\n    pass\n")
    index_repository(indexed_repo)
    after, reads = mcp_call_reads(
        api_client, viewer_auth, "search_code", {"query": "compute_total", "language": "py"}
    )
    assert reads > 0 and after["hits"] == []
