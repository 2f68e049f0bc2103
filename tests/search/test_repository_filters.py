"""The `repo` filter: ids or names, looked up in one query, at most 50 values.

The review's finding: each repeated `repo` parameter cost a database query (575 of
them took 0.24 s); nothing bounded how many a request could carry."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indexing.indexer import index_repository
from indexing.models import Repository
from search.engine import SearchError, resolve_repositories
from search.serializers import MAX_REPOSITORY_FILTERS
from tests.indexing.conftest import write_repo

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/search?q=total", "/api/symbols?q=total", "/api/search/semantic?q=total"])
def test_more_values_than_the_cap_are_a_400(api_client, indexed_repo, viewer_auth, path):
    too_many = "".join(f"&repo=r{n}" for n in range(MAX_REPOSITORY_FILTERS + 1))
    response = api_client.get(path + too_many, **viewer_auth)
    assert response.status_code == 400
    assert f"no more than {MAX_REPOSITORY_FILTERS}" in response.json()["repo"][0]


def test_the_cap_itself_is_fine_and_costs_one_query(api_client, indexed_repo, viewer_auth):
    values = ["shop"] + [str(indexed_repo.pk)] * (MAX_REPOSITORY_FILTERS - 1)
    with CaptureQueriesContext(connection) as queries:
        ids = resolve_repositories(values)
    assert ids == [indexed_repo.pk]
    assert len(queries.captured_queries) == 1
    params = "".join(f"&repo={value}" for value in values)
    assert api_client.get("/api/search?q=total" + params, **viewer_auth).status_code == 200


def test_ids_and_names_resolve_in_the_order_given(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    first = Repository.objects.create(name="alpha", path=str(write_repo(tmp_path / "a", {"a.py": "x\n"})))
    # A repository whose name is the other's id: both match that value, as before.
    second = Repository.objects.create(name=str(first.pk), path=str(write_repo(tmp_path / "b", {"b.py": "x\n"})))
    index_repository(first)
    assert resolve_repositories(["alpha"]) == [first.pk]
    assert sorted(resolve_repositories([str(first.pk)])) == sorted([first.pk, second.pk])
    assert resolve_repositories([str(second.pk), "alpha"]) == [second.pk, first.pk]
    with pytest.raises(SearchError, match="No repository 'ghost'"):
        resolve_repositories(["alpha", "ghost"])
    with pytest.raises(SearchError, match="No repository '99999999999999999999'"):
        resolve_repositories(["99999999999999999999"])  # too long to be an id
