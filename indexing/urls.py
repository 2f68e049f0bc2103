from django.urls import path

from indexing import views

urlpatterns = [
    path("index", views.IndexView.as_view(), name="index"),
    path("repositories", views.RepositoryListView.as_view(), name="repositories"),
    path(
        "repositories/<id:repository_id>",
        views.RepositoryDetailView.as_view(),
        name="repository",
    ),
    path(
        "repositories/<id:repository_id>/reindex",
        views.ReindexView.as_view(),
        name="repository-reindex",
    ),
    path("jobs/<id:job_id>", views.JobDetailView.as_view(), name="job"),
    path("plugins", views.PluginListView.as_view(), name="plugins"),
    path("plugins/<str:name>", views.PluginDetailView.as_view(), name="plugin"),
]
