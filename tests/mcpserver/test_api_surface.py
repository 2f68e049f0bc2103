import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_database_and_cache_without_authentication(api_client):
    response = api_client.get("/api/health", HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_openapi_schema_describes_the_auth_endpoints(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/auth/login", "/auth/refresh", "/auth/logout", "/auth/logout-all", "/auth/me"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert not schema["paths"]["/auth/login"]["post"].get("security")
    assert schema["paths"]["/auth/me"]["get"]["security"] == [{"bearerAuth": []}]


def test_interactive_docs_are_served_locally(api_client):
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower(), "the docs must not load scripts from a CDN"


def test_unknown_paths_are_json_404(api_client):
    response = api_client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


def test_method_not_allowed_is_405_not_500(api_client):
    assert api_client.get("/auth/login").status_code == 405


def test_cors_only_for_configured_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = api_client.options(
        "/auth/login",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed
    other = api_client.options(
        "/auth/login",
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in other
