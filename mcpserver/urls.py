from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import JwksView
from mcpserver.converters import IdConverter
from mcpserver.mcp.views import McpView, ProtectedResourceMetadataView
from mcpserver.views import HealthView, LandingView

register_converter(IdConverter, "id")

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),
    path("auth/", include("accounts.urls")),
    path("api/health", HealthView.as_view(), name="health"),
    path("api/", include("accounts.api_urls")),
    path("api/", include("indexing.urls")),
    path("api/", include("search.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path(".well-known/jwks.json", JwksView.as_view(), name="jwks"),
    path("mcp", McpView.as_view(), name="mcp"),
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="oauth-protected-resource",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp",
        ProtectedResourceMetadataView.as_view(),
        name="oauth-protected-resource-mcp",
    ),
]

handler400 = "mcpserver.exceptions.bad_request"
handler403 = "mcpserver.exceptions.permission_denied"
handler404 = "mcpserver.exceptions.not_found"
handler500 = "mcpserver.exceptions.server_error"
