"""GET / says what this server is and where to go (it was a JSON 404)."""

from __future__ import annotations

import pytest

from mcpserver.mcp.protocol import SERVER_INFO
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_the_root_names_the_server_and_links_to_what_there_is(api_client):
    response = api_client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body == {
        "name": SERVER_INFO["name"],
        "title": SERVER_INFO["title"],
        "version": SERVER_INFO["version"],
        "links": {
            "api_docs": "/api/docs/",
            "openapi": "/api/schema/",
            "admin": "/admin/",
            "mcp": "/mcp",
            "health": "/api/health",
        },
    }
    # Public and the same for everyone: shared caches may keep it, for a while.
    assert response["Cache-Control"] == "public, max-age=300"


def test_every_link_leads_somewhere(api_client):
    links = api_client.get("/").json()["links"]
    for name, path in links.items():
        status = api_client.get(path).status_code
        # /admin/ sends a visitor to its login page; /mcp asks for credentials.
        expected = {"admin": 302, "mcp": 401}.get(name, 200)
        assert status == expected, (name, path, status)


def test_the_root_needs_no_credentials_and_ignores_bad_ones(api_client, viewer):
    anonymous = api_client.get("/")
    assert anonymous.status_code == 200
    # A broken token does not turn the landing into a 401, and a good one changes nothing.
    assert api_client.get("/", HTTP_AUTHORIZATION="Bearer garbage").json() == anonymous.json()
    key = api_key_for(viewer)
    assert api_client.get("/", HTTP_AUTHORIZATION=f"Bearer {key}").json() == anonymous.json()
    assert "WWW-Authenticate" not in anonymous


def test_head_works_and_other_methods_are_405(api_client):
    head = api_client.head("/")
    assert head.status_code == 200
    assert head["Cache-Control"] == "public, max-age=300"
    assert head.content == b""
    for method in ("post", "put", "patch", "delete"):
        response = getattr(api_client, method)("/")
        assert response.status_code == 405, method
        assert "GET" in response["Allow"]


def test_the_openapi_schema_describes_the_root(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert set(schema["paths"]["/"]) == {"get"}
    assert not schema["paths"]["/"]["get"].get("security")
