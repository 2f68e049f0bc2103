"""The query serializers share their declared fields' validators (QuerySerializer):
nothing may leak from one validation to the next, or between threads."""

import threading

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from search import responses
from search.serializers import SearchQuerySerializer, SymbolQuerySerializer


def test_each_validation_stands_alone():
    first = responses.validated(SearchQuerySerializer, QueryDict("q=a&repo=x&repo=y"))
    assert first["repo"] == ["x", "y"] and first["limit"] == 50
    first["repo"].append("changed")
    with pytest.raises(ValidationError) as refused:
        responses.validated(SearchQuerySerializer, QueryDict("q=b&limit=0&regex=maybe"))
    assert set(refused.value.detail) == {"limit", "regex"}
    second = responses.validated(SearchQuerySerializer, QueryDict("q=c"))
    assert second["repo"] == [] and second["limit"] == 50 and second["regex"] is False
    assert responses.validated(SymbolQuerySerializer, QueryDict("q=x&kind=a&kind=b"))["kind"] == [
        "a",
        "b",
    ]
    with pytest.raises(ValidationError):
        responses.validated(SearchQuerySerializer, QueryDict("q=" + "x" * 1001))


def test_threads_validating_at_once_each_get_their_own_values():
    wrong = []

    def work(n):
        for i in range(200):
            q = f"t{n}-{i}"
            data = responses.validated(
                SearchQuerySerializer, QueryDict(f"q={q}&limit={n + 1}&repo={q}")
            )
            if (data["q"], data["limit"], data["repo"]) != (q, n + 1, [q]):
                wrong.append((n, i, data))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
