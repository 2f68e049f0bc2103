import pytest

from tests.conftest import bearer
from tests.factories import login_tokens

pytestmark = pytest.mark.django_db


def symbols(client, auth, **params):
    return client.get("/api/symbols", params, **auth).json()["symbols"]


def test_exact_prefix_and_fuzzy(api_client, indexed_repo, viewer_auth):
    exact = symbols(api_client, viewer_auth, q="InvoiceTotal")
    assert exact[0]["name"] == "InvoiceTotal" and exact[0]["match"] == "exact"
    assert exact[0]["kind"] == "class" and exact[0]["path"] == "src/billing/invoice.py"
    assert (exact[0]["start_line"], exact[0]["end_line"]) == (4, 7)
    assert symbols(api_client, viewer_auth, q="compute")[0]["name"] == "compute_total"
    # camelCase and snake_case are the same words.
    assert symbols(api_client, viewer_auth, q="get_current_user")[0]["name"] == "getCurrentUser"
    assert symbols(api_client, viewer_auth, q="gcu")[0]["name"] == "getCurrentUser"
    assert symbols(api_client, viewer_auth, q="cmptot")[0]["name"] == "compute_total"
    method = symbols(api_client, viewer_auth, q="compute_total")[0]
    assert method["kind"] == "method" and method["parent"] == "InvoiceTotal"
    assert method["signature"] == "def compute_total(self, lines):"


def test_symbol_filters(api_client, indexed_repo, viewer_auth):
    assert {s["name"] for s in symbols(api_client, viewer_auth, q="r", kind="function")} >= {
        "renderPanel"
    }
    assert symbols(api_client, viewer_auth, q="renderPanel", lang="Python") == []
    assert symbols(api_client, viewer_auth, q="renderPanel", repo="shop")


def test_symbol_filters_keep_only_what_they_name(api_client, indexed_repo, viewer_auth, tmp_path):
    from indexing.indexer import index_repository
    from indexing.models import Repository
    from tests.indexing.conftest import write_repo

    other = write_repo(
        tmp_path / "other",
        {
            "o.py": "class InvoiceTotal:\n    pass\n\ndef invoice_total():\n    pass\n",
            "o.js": "function invoiceTotal() { return 1; }\n",
        },
    )
    index_repository(Repository.objects.create(name="other", path=str(other)))

    def found(q="invoicetotal", **filters):
        return {
            (s["repository"]["name"], s["path"], s["name"], s["kind"])
            for s in symbols(api_client, viewer_auth, q=q, **filters)
        }

    everything = found()
    assert ("shop", "src/billing/invoice.py", "InvoiceTotal", "class") in everything
    assert ("other", "o.js", "invoiceTotal", "function") in everything
    assert found(repo="other") == {
        ("other", "o.py", "InvoiceTotal", "class"),
        ("other", "o.py", "invoice_total", "function"),
        ("other", "o.js", "invoiceTotal", "function"),
    }
    assert found(repo="other", lang="JavaScript") == {("other", "o.js", "invoiceTotal", "function")}
    assert found(kind="class") == {
        ("shop", "src/billing/invoice.py", "InvoiceTotal", "class"),
        ("other", "o.py", "InvoiceTotal", "class"),
    }
    assert found(kind="class", repo="shop", lang="Python") == {
        ("shop", "src/billing/invoice.py", "InvoiceTotal", "class")
    }
    # No name starts with "invtot": only the letters-in-order lookup finds these, and it
    # keeps the same filters.
    assert found(q="invtot", kind="function", repo="other") == {
        ("other", "o.py", "invoice_total", "function"),
        ("other", "o.js", "invoiceTotal", "function"),
    }
    assert found(q="invtot", repo="other", lang="JavaScript") == {
        ("other", "o.js", "invoiceTotal", "function")
    }
    # LIKE's wildcards and escape character in a query are answered, not an error. (The
    # ranking would drop a name they let through as a candidate: this is no test of the
    # escaping, which is Django's prep_for_like_query.)
    for hostile in ("i%l", "x_y", "%%%q", "q" * 200):
        assert found(q=hostile) == set()
    assert found(q="invoice\\") == found(q="invoice")  # a trailing escape character


def test_symbols_bad_input_and_scope(api_client, indexed_repo, viewer_auth, developer):
    assert api_client.get("/api/symbols", {}, **viewer_auth).status_code == 400
    assert api_client.get("/api/symbols", {"q": "x" * 300}, **viewer_auth).status_code == 400
    assert (
        api_client.get("/api/symbols", {"q": "x", "limit": "-1"}, **viewer_auth).status_code == 400
    )
    assert api_client.get("/api/symbols", {"q": "x"}).status_code == 401
    narrowed = bearer(
        login_tokens(developer, scopes=frozenset({"mcp:index:update"}))["access_token"]
    )
    assert api_client.get("/api/symbols", {"q": "x"}, **narrowed).status_code == 403


def test_read_a_file_and_a_line_range(api_client, indexed_repo, viewer_auth):
    url = f"/api/repositories/{indexed_repo.pk}/file"
    whole = api_client.get(url, {"path": "src/long.txt"}, **viewer_auth).json()
    assert whole["total_lines"] == 131 and whole["content"].endswith("needle at the end\n")
    part = api_client.get(
        url, {"path": "src/long.txt", "start": 49, "end": 52}, **viewer_auth
    ).json()
    assert part["content"] == "filler line 49\nfiller line 50\nfiller line 51\nfiller line 52\n"
    assert (part["start_line"], part["end_line"]) == (49, 52)


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "src/../../shop/src/long.txt", "missing.py", "src"],
)
def test_nothing_outside_the_index_can_be_read(api_client, indexed_repo, viewer_auth, path):
    response = api_client.get(
        f"/api/repositories/{indexed_repo.pk}/file", {"path": path}, **viewer_auth
    )
    assert response.status_code == 404


def test_file_bad_input(api_client, indexed_repo, viewer_auth):
    url = f"/api/repositories/{indexed_repo.pk}/file"
    assert api_client.get(url, {}, **viewer_auth).status_code == 400
    assert (
        api_client.get(
            url, {"path": "src/long.txt", "start": 5, "end": 2}, **viewer_auth
        ).status_code
        == 400
    )
    assert (
        api_client.get("/api/repositories/99999/file", {"path": "x"}, **viewer_auth).status_code
        == 404
    )
    assert api_client.get(url, {"path": "src/long.txt"}).status_code == 401


def test_symbol_queries_without_letters_are_400(api_client, indexed_repo, viewer_auth):
    for q in ["_", "$$$", "___"]:
        assert api_client.get("/api/symbols", {"q": q}, **viewer_auth).status_code == 400


def test_an_exact_match_survives_many_prefix_matches(api_client, tmp_path, settings, viewer_auth):
    from indexing.indexer import index_repository
    from indexing.models import Repository
    from tests.indexing.conftest import write_repo

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    source = (
        "".join(f"def handler_{n:04d}():\n    pass\n" for n in range(400))
        + "def handler():\n    pass\n"
    )
    repo = write_repo(tmp_path / "many", {"h.py": source})
    index_repository(Repository.objects.create(name="many", path=str(repo)))
    assert symbols(api_client, viewer_auth, q="handler")[0]["name"] == "handler"


def test_prefix_matches_include_names_that_go_on_past_ascii(
    api_client, tmp_path, settings, viewer_auth
):
    """SQLite looks prefixes up as a range of the index: a name that continues with any
    character, ASCII or not, is still a prefix match, ranked before fuzzy ones."""
    from indexing.indexer import index_repository
    from indexing.models import Repository
    from tests.indexing.conftest import write_repo

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    source = "".join(
        f"def {name}():\n    pass\n"
        for name in ["cafe", "café_crème", "cafeteria", "xcafe", "c_a_fx"]
    )
    repo = write_repo(tmp_path / "uni", {"m.py": source})
    index_repository(Repository.objects.create(name="uni", path=str(repo)))
    found = symbols(api_client, viewer_auth, q="caf")
    assert [(s["name"], s["match"]) for s in found] == [
        ("cafe", "prefix"),
        ("c_a_fx", "prefix"),
        ("cafeteria", "prefix"),
        ("café_crème", "prefix"),
        ("xcafe", "fuzzy"),
    ]
    assert found[0]["repository"]["name"] == "uni" and found[0]["path"] == "m.py"


@pytest.fixture
def many_handlers(tmp_path, settings):
    """520 functions whose names start with "handler", 460 of them with "handler_0"."""
    from indexing.indexer import index_repository
    from indexing.models import Repository
    from tests.indexing.conftest import write_repo

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    source = "".join(f"def handler_{n:04d}():\n    pass\n" for n in range(460)) + "".join(
        f"def handler_x_{chr(97 + n // 26)}{chr(97 + n % 26)}():\n    pass\n" for n in range(60)
    )
    repo = write_repo(tmp_path / "many", {"h.py": source})
    index_repository(Repository.objects.create(name="many", path=str(repo)))


@pytest.mark.parametrize("limit", [500, 50])
def test_the_published_maximum_is_honoured_and_a_cut_is_reported(
    api_client, many_handlers, viewer_auth, limit
):
    body = api_client.get("/api/symbols", {"q": "handler", "limit": limit}, **viewer_auth).json()
    assert len(body["symbols"]) == limit
    assert body["truncated"] is True
    assert "raise limit" in body["message"]


def test_all_matches_within_the_limit_are_not_truncated(api_client, many_handlers, viewer_auth):
    body = api_client.get("/api/symbols", {"q": "handler_0", "limit": 500}, **viewer_auth).json()
    assert len(body["symbols"]) == 460
    assert body["truncated"] is False and "message" not in body


def test_a_limit_over_the_maximum_is_400(api_client, indexed_repo, viewer_auth):
    response = api_client.get("/api/symbols", {"q": "x", "limit": 501}, **viewer_auth)
    assert response.status_code == 400 and "limit" in response.json()


@pytest.mark.parametrize(("start", "end"), [(132, None), (9000, None), (9000, 9500), (200, 300)])
def test_a_range_past_the_end_of_the_file_names_its_length(
    api_client, indexed_repo, viewer_auth, start, end
):
    params = {"path": "src/long.txt", "start": start, **({"end": end} if end else {})}
    response = api_client.get(f"/api/repositories/{indexed_repo.pk}/file", params, **viewer_auth)
    assert response.status_code == 400
    assert response.json() == {
        "start": [f"Line {start} is past the end of src/long.txt, which has 131 lines."]
    }


def test_a_range_that_runs_past_the_end_is_cut_there(api_client, indexed_repo, viewer_auth):
    body = api_client.get(
        f"/api/repositories/{indexed_repo.pk}/file",
        {"path": "src/long.txt", "start": 130, "end": 500},
        **viewer_auth,
    ).json()
    assert (body["start_line"], body["end_line"], body["total_lines"]) == (130, 131, 131)
    assert body["content"] == "filler line 130\nneedle at the end\n"
