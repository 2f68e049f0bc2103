import pytest

from indexing.indexer import index_repository
from indexing.models import Repository
from tests.conftest import bearer
from tests.factories import login_tokens
from tests.indexing.conftest import touch_later, write_repo

pytestmark = pytest.mark.django_db


def search(client, auth, **params):
    return client.get("/api/search", params, **auth)


def test_literal_search_finds_lines_with_context(api_client, indexed_repo, viewer_auth):
    body = search(api_client, viewer_auth, q="compute_total").json()
    hits = {(hit["path"], hit["line"]) for hit in body["hits"]}
    assert hits == {("src/billing/invoice.py", 5), ("docs/guide.md", 2)}
    hit = next(h for h in body["hits"] if h["path"].endswith(".py"))
    assert hit["text"] == "    def compute_total(self, lines):"
    assert hit["before"] == ["", "class InvoiceTotal:"]
    assert hit["after"][0].strip().startswith("# sum every line")
    assert hit["repository"] == {"id": indexed_repo.pk, "name": "shop"}
    assert hit["language"] == "Python"
    assert body["files_matched"] == 2 and body["truncated"] is False and body["used_index"]


def test_case_sensitivity(api_client, indexed_repo, viewer_auth):
    assert len(search(api_client, viewer_auth, q="INVOICETOTAL").json()["hits"]) == 1
    assert search(api_client, viewer_auth, q="INVOICETOTAL", case="true").json()["hits"] == []


def test_regex_with_a_required_literal_uses_the_index(api_client, indexed_repo, viewer_auth):
    body = search(api_client, viewer_auth, q=r"def \w+_total\(", regex="true").json()
    assert [h["line"] for h in body["hits"]] == [5] and body["used_index"]


def test_regex_without_a_literal_is_scanned(api_client, indexed_repo, viewer_auth):
    body = search(api_client, viewer_auth, q=r"[A-Z][a-z]+[A-Z]\w+\(", regex="true").json()
    assert {h["text"].strip() for h in body["hits"]} >= {"def getCurrentUser(request):"}
    assert body["used_index"] is False


def test_a_scanned_regex_keeps_the_filters(api_client, indexed_repo, viewer_auth, tmp_path):
    """No literal for the index: the scan applies repo and lang itself."""
    other = write_repo(
        tmp_path / "other",
        {"o.py": "def getOtherUser(request):\n", "o.js": "function getJsUser() {}\n"},
    )
    index_repository(Repository.objects.create(name="other", path=str(other)))

    def found(**filters):
        body = search(
            api_client,
            viewer_auth,
            q=r"[A-Z][a-z]+[A-Z]\w+\(",
            regex="true",
            case="true",
            **filters,
        ).json()
        assert body["used_index"] is False
        return {(h["repository"]["name"], h["path"]) for h in body["hits"]}

    assert found() == {("shop", "src/billing/invoice.py"), ("other", "o.py"), ("other", "o.js")}
    assert found(repo="other") == {("other", "o.py"), ("other", "o.js")}
    assert found(repo="other", lang="JavaScript") == {("other", "o.js")}
    assert found(lang="Python") == {("shop", "src/billing/invoice.py"), ("other", "o.py")}


def test_catastrophic_patterns_run_in_linear_time(api_client, tmp_path, settings, viewer_auth):
    import time

    from indexing.models import Repository

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "evil", {"a.txt": ("a" * 5000 + "!\n") * 50})
    index_repository(Repository.objects.create(name="evil", path=str(repo)))
    started = time.monotonic()
    for pattern in [r"(a+)+$", r"(a|aa)+$", r"(a*)*b", r"(.*a){20}"]:
        response = search(api_client, viewer_auth, q=pattern, regex="true")
        assert response.status_code == 200
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "(unclosed", "regex": "true"}, "Invalid regular expression"),
        ({"q": r"(a)\1", "regex": "true"}, "Invalid regular expression"),
        ({"q": ""}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "limit": "0"}, "limit"),
        ({"q": "x", "limit": "many"}, "limit"),
        ({"q": "x", "regex": "maybe"}, "regex"),
        ({"q": "x", "cursor": "garbage!!"}, "Invalid cursor"),
        ({"q": "x", "repo": "nope"}, "No repository"),
    ],
)
def test_bad_queries_are_400(api_client, indexed_repo, viewer_auth, params, fragment):
    response = search(api_client, viewer_auth, **params)
    assert response.status_code == 400
    assert fragment in str(response.json())


@pytest.mark.parametrize("cursor", ["garbage!!", "eyJjIjogLTF9", "x" * 200])
def test_a_bad_cursor_is_an_error_of_the_cursor_field(
    api_client, indexed_repo, viewer_auth, cursor
):
    response = search(api_client, viewer_auth, q="compute_total", cursor=cursor)
    assert response.status_code == 400
    assert response.json() == {
        "cursor": ["Invalid cursor: pass the next_cursor of a previous page."]
    }


def test_short_queries_still_work(api_client, indexed_repo, viewer_auth):
    body = search(api_client, viewer_auth, q="a_b").json()
    assert [h["path"] for h in body["hits"]] == ["src/web/app.js"]
    body = search(api_client, viewer_auth, q="%", case="true").json()
    assert [h["line"] for h in body["hits"]] == [2]
    assert search(api_client, viewer_auth, q="Gu").json()["hits"]


def test_filters(api_client, indexed_repo, viewer_auth):
    assert {
        h["path"]
        for h in search(api_client, viewer_auth, q="invoice", lang="Python").json()["hits"]
    } == {"src/billing/invoice.py"}
    assert {
        h["path"]
        for h in search(api_client, viewer_auth, q="invoice", path="docs/*").json()["hits"]
    } == {"docs/guide.md"}
    assert search(api_client, viewer_auth, q="invoice", repo="shop").json()["hits"]
    assert search(api_client, viewer_auth, q="invoice", repo=str(indexed_repo.pk)).json()["hits"]


def test_paging_to_the_end(api_client, indexed_repo, viewer_auth):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "filler line", "limit": 40}
        if cursor:
            params["cursor"] = cursor
        body = search(api_client, viewer_auth, **params).json()
        seen += [hit["line"] for hit in body["hits"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, 131)) and pages == 4


def test_only_the_live_generation_is_searched(api_client, indexed_repo, viewer_auth, tmp_path):
    touch_later(tmp_path / "shop" / "docs" / "guide.md", "# Guide\nnothing here\n")
    index_repository(indexed_repo)
    assert {
        h["path"] for h in search(api_client, viewer_auth, q="compute_total").json()["hits"]
    } == {"src/billing/invoice.py"}


def test_search_needs_the_scope(api_client, indexed_repo, developer):
    assert api_client.get("/api/search", {"q": "x"}).status_code == 401
    narrowed = bearer(
        login_tokens(developer, scopes=frozenset({"mcp:index:create"}))["access_token"]
    )
    response = api_client.get("/api/search", {"q": "x"}, **narrowed)
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission required: mcp:search:code"}


def test_a_scan_that_runs_out_of_budget_says_so_and_can_continue(indexed_repo):
    from search import engine

    result = engine.search(engine.Query(q=r"\w+", regex=True, limit=500), budget=0)
    assert result.truncated and result.next_cursor and not result.used_index
    assert "add a literal of three or more characters" in result.message
    resumed = engine.search(
        engine.Query(q=r"\w+", regex=True, limit=500, cursor=result.next_cursor)
    )
    assert resumed.hits


def test_non_ascii_case_insensitive_search_finds_every_case(
    api_client, tmp_path, settings, viewer_auth
):
    from indexing.models import Repository

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "fr", {"notes.txt": "École normale\nécole du soir\n"})
    index_repository(Repository.objects.create(name="fr", path=str(repo)))
    assert len(search(api_client, viewer_auth, q="école").json()["hits"]) == 2
    assert len(search(api_client, viewer_auth, q="éCOLE", regex="true").json()["hits"]) == 2
    assert len(search(api_client, viewer_auth, q="École", case="true").json()["hits"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "cursor": "eyJjIjoxZTQwMCwibCI6MH0"},  # {"c":1e400,"l":0}
        {"q": "x", "cursor": "eyJjIjoxODQ0Njc0NDA3MzcwOTU1MTYxNiwibCI6MH0"},  # c = 2**64
        {"q": "x", "cursor": "eyJjIjotMSwibCI6MH0"},  # c = -1
        {"q": "x", "repo": "²"},
        {"q": "x", "repo": "9" * 40},
    ],
    ids=["cursor-inf", "cursor-2**64", "cursor-negative", "repo-unicode-digit", "repo-huge"],
)
def test_hostile_parameters_are_400_not_500(api_client, indexed_repo, viewer_auth, params):
    assert search(api_client, viewer_auth, **params).status_code == 400


def test_a_nul_in_a_regex_is_searched_not_a_500(api_client, indexed_repo, viewer_auth):
    """RE2 accepts it; it must not reach PostgreSQL inside a LIKE pattern."""
    response = search(api_client, viewer_auth, q=r"compute\x00", regex="true")
    assert response.status_code == 200
    assert response.json()["hits"] == []


def test_huge_ids_in_urls_are_404(api_client, indexed_repo, viewer_auth):
    for url in [
        "/api/repositories/" + "9" * 30 + "/file?path=a",
        "/api/repositories/" + "9" * 30,
        "/api/jobs/" + "9" * 30,
        "/api/keys/" + "9" * 30,
    ]:
        assert api_client.get(url, **viewer_auth).status_code == 404, url


def test_long_lines_are_trimmed_in_hits(api_client, tmp_path, settings, viewer_auth):
    from indexing.models import Repository

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "min", {"app.min.js": "var needle=1;" + "x" * 50_000 + "\n"})
    index_repository(Repository.objects.create(name="min", path=str(repo)))
    hit = search(api_client, viewer_auth, q="needle").json()["hits"][0]
    assert len(hit["text"]) <= 1001 and hit["text"].endswith("…")


def test_repo_may_repeat(api_client, indexed_repo, viewer_auth, tmp_path):
    from indexing.models import Repository

    other = write_repo(tmp_path / "other", {"x.py": "compute_total = 1\n"})
    index_repository(Repository.objects.create(name="other", path=str(other)))
    both = api_client.get("/api/search?q=compute_total&repo=shop&repo=other", **viewer_auth).json()[
        "hits"
    ]
    assert {hit["repository"]["name"] for hit in both} == {"shop", "other"}
    one = api_client.get("/api/search?q=compute_total&repo=other", **viewer_auth).json()["hits"]
    assert {hit["repository"]["name"] for hit in one} == {"other"}


def test_like_pattern_keeps_the_runs_whole_and_in_order():
    from search.engine import like_pattern

    # _ and % match themselves among other things: the pattern still admits every match.
    assert like_pattern("get_or_create", regex=False, case=False) == "%get_or_create%"
    assert like_pattern(r"self\.\w+_cache", regex=True, case=False) == "%self.%_cache%"
    assert like_pattern("100%_sure", regex=False, case=False) == "%100%_sure%"
    # Nothing three characters long without a wildcard: the index could not help.
    assert like_pattern("a_b_c", regex=False, case=False) is None
    assert like_pattern("foo|barbaz", regex=True, case=False) is None
    # LIKE folds ASCII only: ignoring case, a non-ASCII letter becomes a wildcard.
    assert like_pattern("école", regex=False, case=False) == "%cole%"
    assert like_pattern("École", regex=False, case=True) == "%École%"
    assert like_pattern("a\nbcd\x00efg", regex=False, case=True) == "%bcd%efg%"
    assert like_pattern(r"def \w+_or_create\(", regex=True, case=False) == "%def %_or_create(%"
    assert like_pattern("[a-z]+", regex=True, case=False) is None
    assert like_pattern("ab", regex=False, case=False) is None


WILDCARDS = {
    "models.py": (
        "obj, created = Book.objects.get_or_create(title=t)\n"
        "GET_OR_CREATE = True\n"
        "get = create = None  # both words, not the name\n"
        "getXorXcreate()\n"
        "ratio = 100% sure\n"
        "    self._meta_cache = {}\n"
        "self.name\n"
        "_cache = 1\n"
        'path = "C:\\new\\table"\n'
        "Ünïcode Straße\n"
    )
}


@pytest.fixture
def wildcard_repo(tmp_path, settings):
    from indexing.models import Repository

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "wild", WILDCARDS)
    index_repository(Repository.objects.create(name="wild", path=str(repo)))


@pytest.mark.parametrize(
    ("params", "lines"),
    [
        ({"q": "get_or_create"}, [1, 2]),
        ({"q": "get_or_create", "case": "true"}, [1]),
        ({"q": "100% sure"}, [5]),
        ({"q": r"self\.\w+_cache", "regex": "true"}, [6]),
        ({"q": r"SELF\.\w+_CACHE", "regex": "true"}, [6]),
        ({"q": r"SELF\.\w+_CACHE", "regex": "true", "case": "true"}, []),
        # (?i) ignores case even in a case-sensitive search: the index must not lose it.
        ({"q": r"(?i)GET_OR_\w+", "regex": "true", "case": "true"}, [1, 2]),
        ({"q": r"get.or.create\(", "regex": "true"}, [1, 4]),
        # A backslash is an ordinary character (PostgreSQL's LIKE would take it as escape).
        ({"q": "C:\\new\\table"}, [9]),
        ({"q": "new\\"}, [9]),
        ({"q": r"C:\\new\\t", "regex": "true"}, [9]),
        ({"q": "Straße", "case": "true"}, [10]),
        ({"q": "ünïcode straße"}, [10]),
    ],
)
def test_literals_with_wildcard_characters_find_exactly_their_lines(
    api_client, wildcard_repo, viewer_auth, params, lines
):
    body = search(api_client, viewer_auth, **params).json()
    assert [hit["line"] for hit in body["hits"]] == lines
    assert body["used_index"]


def test_an_underscored_literal_reads_only_chunks_that_hold_it(tmp_path, settings):
    """The whole literal goes to the index and its recheck: chunks with "get" and
    "create" apart are not even candidates."""
    from indexing.models import Repository
    from search import engine

    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    files = {f"noise{n}.py": "get = 1\ncreate = 2\n" for n in range(30)}
    files["real.py"] = "Book.objects.get_or_create()\n"
    repo = write_repo(tmp_path / "many", files)
    index_repository(Repository.objects.create(name="many", path=str(repo)))
    pattern = engine.like_pattern("GET_OR_CREATE", regex=False, case=False)
    ids, last = engine._candidate_ids(pattern, -1, 100, case=False, windows=False)
    assert len(ids) == 1 and last


def test_postgres_asks_for_windows_only_when_the_planner_would_use_them(tmp_path, settings):
    """A rare literal (the planner would recheck its whole GIN bitmap for every window)
    takes one candidate query; the planner's choice is what decides."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from indexing.models import Repository
    from search import engine

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's candidate windows")
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    files = {f"f{n}.py": "".join(f"value_{n}_{i} = {i}\n" for i in range(60)) for n in range(40)}
    files["z.py"] = "Book.objects.get_or_create()\n"
    repo = write_repo(tmp_path / "rare", files)
    index_repository(Repository.objects.create(name="rare", path=str(repo)))
    assert not engine._postgres_windows_help("%get_or_create%", False)
    with CaptureQueriesContext(connection) as queries:
        result = engine.search(engine.Query(q="get_or_create"))
    assert [hit.path for hit in result.hits] == ["z.py"]
    candidate_queries = [q["sql"] for q in queries if q["sql"].startswith("SELECT id FROM")]
    assert len(candidate_queries) == 1 and "id <=" not in candidate_queries[0]


def test_a_chunk_without_the_literals_on_one_line_is_skipped_whole():
    from search.engine import chunk_gate

    gate = chunk_gate(r"self\.\w+_cache", case=False)
    assert not gate("x = self.name\n_cache = 1\n")
    assert gate("a\n    SELF.meta_CACHE = {}\n")
    assert chunk_gate(r"(?i)Foo\d+BAR", case=True)("foo1bar")
    assert not chunk_gate(r"Foo\d+BAR", case=True)("foo1bar")
    assert chunk_gate("[a-z]+", case=False) is None


def test_line_matcher_gives_the_offsets_of_matching_lines():
    from search.engine import line_matcher

    def offsets(q, text, **kwargs):
        return line_matcher(q, **kwargs)(text, text.splitlines())

    text = "A\nSTRASSE\r\nstraße\x0cİstanbul\nistanbul\n"
    assert offsets("straße", text, regex=False, case=False) == [1, 2]
    assert offsets("straße", text, regex=False, case=True) == [2]
    assert offsets("i̇stanbul", text, regex=False, case=False) == [3]
    assert offsets(r"STRA\w+E$", text, regex=True, case=False) == [1]
    assert offsets(r"\w+ul", text, regex=True, case=True) == [3, 4]


@pytest.mark.parametrize(
    "lang", ["Python", "python", "PYTHON", "py", ".py", "pyi", "python3", " py "]
)
def test_a_language_by_any_usual_name(api_client, indexed_repo, viewer_auth, lang):
    body = search(api_client, viewer_auth, q="compute_total", lang=lang).json()
    assert [hit["path"] for hit in body["hits"]] == ["src/billing/invoice.py"]


@pytest.mark.parametrize(
    ("lang", "language"),
    [("js", "JavaScript"), ("jsx", "JavaScript"), ("ts", "TypeScript"), ("rs", "Rust"),
     ("cpp", "C++"), ("c++", "C++"), ("hpp", "C++"), ("golang", "Go"), ("h", "C")],
)  # fmt: skip
def test_short_names_and_extensions_mean_their_language(lang, language):
    from indexing.plugins import language_named

    assert language_named(lang) == language


@pytest.mark.parametrize("endpoint", ["/api/search", "/api/symbols", "/api/search/semantic"])
def test_an_unknown_language_is_400_listing_the_known_ones(
    api_client, indexed_repo, viewer_auth, developer, endpoint
):
    auth = bearer(login_tokens(developer)["access_token"])
    response = api_client.get(endpoint, {"q": "compute_total", "lang": "cobol"}, **auth)
    assert response.status_code == 400
    message = response.json()["lang"][0]
    assert message.startswith("Unknown language 'cobol'. Known: C, C++, Go, Java, JavaScript,")
    assert "Python" in message and "py, js, ts" in message
