"""API answers that carry code or credentials say Cache-Control: no-store.

The review found none on the search, file, key and MCP answers: a shared proxy or the
browser's disk cache could keep code and keys."""

import json

import pytest

from tests.conftest import bearer
from tests.factories import api_key_for, login_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_auth(admin_user):
    return bearer(login_tokens(admin_user)["access_token"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/search?q=total",
        "/api/symbols?q=InvoiceTotal",
        "/api/repositories/{repo}/file?path=src/billing/invoice.py",
        "/api/search/semantic?q=total",  # 501 here: semantic search is off in tests
        "/api/repositories",
        "/api/jobs/{job}",
        "/api/keys",
        "/api/audit",
        "/auth/me",
        "/api/search?q=",  # a 400
        "/api/repositories/999999/file?path=x",  # a 404
    ],
)
def test_api_answers_are_not_stored(api_client, indexed_repo, admin_auth, path):
    job = indexed_repo.jobs.first()
    url = path.format(repo=indexed_repo.pk, job=job.pk if job else 1)
    response = api_client.get(url, **admin_auth)
    assert response.status_code in (200, 400, 404, 501)
    assert response["Cache-Control"] == "no-store", (url, response.status_code)


def test_refusals_are_not_stored_either(api_client):
    assert api_client.get("/api/search?q=x")["Cache-Control"] == "no-store"  # 401


def test_a_new_key_and_a_login_are_not_stored(api_client, admin_user, admin_auth):
    created = api_client.post(
        "/api/keys", {"name": "ci", "scopes": ["mcp:search:code"]}, format="json", **admin_auth
    )
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"


def test_mcp_tool_results_are_not_stored(api_client, indexed_repo, viewer):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "get_file", "arguments": {"repository": "shop", "path": "docs/guide.md"}}}  # fmt: skip
    response = api_client.generic(
        "POST", "/mcp", json.dumps(message), content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream", HTTP_MCP_PROTOCOL_VERSION="2025-11-25",
        HTTP_X_API_KEY=api_key_for(viewer),
    )  # fmt: skip
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_public_documents_keep_their_own_caching(api_client):
    assert api_client.get("/.well-known/jwks.json")["Cache-Control"] == "public, max-age=60"
    metadata = api_client.get("/.well-known/oauth-protected-resource/mcp")
    assert "max-age" in metadata["Cache-Control"]
