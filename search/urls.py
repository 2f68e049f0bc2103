from django.urls import path

from search import views

urlpatterns = [
    path("search", views.SearchView.as_view(), name="search"),
    path("search/semantic", views.SemanticSearchView.as_view(), name="semantic-search"),
    path("symbols", views.SymbolSearchView.as_view(), name="symbols"),
    path("repositories/<id:repository_id>/file", views.FileView.as_view(), name="file"),
]
