from django.urls import path

from accounts import api_views

urlpatterns = [
    path("keys", api_views.ApiKeyListView.as_view(), name="api-keys"),
    path("keys/<id:key_id>", api_views.ApiKeyDetailView.as_view(), name="api-key"),
    path("audit", api_views.AuditEventListView.as_view(), name="audit"),
]
