"""Full Unicode case folding in search: a case-insensitive literal search matches what
str.casefold matches (ß and ss, the Turkish dotted I, final sigma), through the trigram
index on SQLite and PostgreSQL alike."""

import importlib
import os
import sys
from pathlib import Path

import pytest

from indexing.indexer import index_repository
from indexing.models import IndexedFile, Repository
from search import engine
from tests.indexing.conftest import write_repo

pytestmark = pytest.mark.django_db

GREETINGS = {
    "de.txt": "print('GRÜSS GOTT')\nstraße = 1\nMASSE = 2\n",
    "de2.txt": "say('Grüß Gott')\n",
    "tr.txt": "city = 'İSTANBUL'\n",
    "el.txt": "word = 'ΟΔΟΣ'\nother = 'οδος'\n",
    "lig.txt": "the ﬁnal oﬃce\n",
    "long.txt": "cla\u017fs \u212aelvin\n",  # long s, Kelvin sign
}
DOTTED_I = "i\u0307"  # what İ casefolds to: i and a combining dot above


@pytest.fixture
def greetings(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "greetings", GREETINGS)
    repository = Repository.objects.create(name="greetings", path=str(repo))
    index_repository(repository)
    return repository


def lines(client, auth, q, **params):
    response = client.get("/api/search", {"q": q, **params}, **auth)
    assert response.status_code == 200, response.content
    return {(hit["path"], hit["line"]) for hit in response.json()["hits"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("GRÜß GOTT", {("de.txt", 1), ("de2.txt", 1)}),  # ß folds to ss
        ("grüss gott", {("de.txt", 1), ("de2.txt", 1)}),
        ("GRÜSS GOTT", {("de.txt", 1), ("de2.txt", 1)}),
        ("STRASSE", {("de.txt", 2)}),  # the index holds "straße" as "strasse"
        ("straße", {("de.txt", 2)}),
        ("ẞE = 1", {("de.txt", 2)}),  # capital sharp s
        ("maße", {("de.txt", 3)}),
        (f"{DOTTED_I}stanbul", {("tr.txt", 1)}),
        ("İstanbul", {("tr.txt", 1)}),
        ("οδοσ", {("el.txt", 1), ("el.txt", 2)}),  # final sigma and sigma fold alike
        ("ΟΔΟΣ", {("el.txt", 1), ("el.txt", 2)}),
        ("final office", {("lig.txt", 1)}),  # ligatures fold to their letters
        ("class kelvin", {("long.txt", 1)}),
    ],
)
def test_case_insensitive_search_folds_fully(api_client, greetings, viewer_auth, query, expected):
    assert lines(api_client, viewer_auth, query) == expected


def test_case_sensitive_search_does_not_fold(api_client, greetings, viewer_auth):
    assert lines(api_client, viewer_auth, "Grüß Gott", case="true") == {("de2.txt", 1)}
    assert lines(api_client, viewer_auth, "GRÜSS GOTT", case="true") == {("de.txt", 1)}
    assert lines(api_client, viewer_auth, "straße", case="true") == {("de.txt", 2)}
    assert lines(api_client, viewer_auth, "strasse", case="true") == set()


def test_a_regex_finds_what_re2_folds_through_the_index(api_client, greetings, viewer_auth):
    """RE2 folds one character to one (simple folding): the Kelvin sign to k, the long s
    to s, the Greek sigmas to each other. The index must not hide those lines."""
    assert lines(api_client, viewer_auth, r"ΟΔΟΣ\W", regex="true") == {
        ("el.txt", 1),
        ("el.txt", 2),
    }
    assert lines(api_client, viewer_auth, r"GR.SS GOTT", regex="true") == {("de.txt", 1)}
    assert lines(api_client, viewer_auth, r"CLASS KELVIN\b", regex="true") == {("long.txt", 1)}


def test_the_index_folding_is_python_s_and_the_migration_s():
    expected = {
        chr(code): chr(code).casefold()
        for code in range(0x80, sys.maxunicode + 1)
        if any(char.isascii() for char in chr(code).casefold())
    }
    assert engine.FOLDS_TO_ASCII == expected
    migration = importlib.import_module("search.migrations.0003_index_full_case_folding")
    assert migration.FOLDS_TO_ASCII == expected


def test_like_patterns_come_from_the_casefolded_query():
    assert engine.like_pattern("GRÜß GOTT", regex=False, case=False) == "%ss gott%"
    assert engine.like_pattern("STRASSE", regex=False, case=False) == "%strasse%"
    assert engine.index_form("Grüße aus der Straße") == "Grüsse aus der Strasse"


# --- Paths in NFC ---------------------------------------------------------------------------

CAFE_NFC = "caf\u00e9"  # é as one character
CAFE_NFD = "cafe\u0301"  # e and a combining acute accent, as macOS spells names


@pytest.fixture
def nfd_repo(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(
        tmp_path / "menu",
        {f"{CAFE_NFD}/cr\u0065\u0300me.py": "def espresso():\n    return 1\n"},
    )
    repository = Repository.objects.create(name="menu", path=str(repo))
    index_repository(repository)
    return repository


def test_paths_are_indexed_in_nfc(api_client, nfd_repo, viewer_auth):
    assert list(IndexedFile.objects.values_list("path", flat=True)) == [f"{CAFE_NFC}/cr\u00e8me.py"]
    body = api_client.get("/api/search", {"q": "espresso"}, **viewer_auth).json()
    assert [hit["path"] for hit in body["hits"]] == [f"{CAFE_NFC}/cr\u00e8me.py"]


@pytest.mark.parametrize("spelling", [f"{CAFE_NFC}/cr\u00e8me.py", f"{CAFE_NFD}/cre\u0300me.py"])
def test_a_file_is_found_however_its_path_is_spelled(api_client, nfd_repo, viewer_auth, spelling):
    response = api_client.get(
        f"/api/repositories/{nfd_repo.pk}/file", {"path": spelling}, **viewer_auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["content"].startswith("def espresso")
    glob = api_client.get(
        "/api/search", {"q": "espresso", "path": spelling.replace("py", "*")}, **viewer_auth
    ).json()
    assert len(glob["hits"]) == 1


def test_a_reindex_reads_the_file_by_its_name_on_disk(api_client, nfd_repo, viewer_auth):
    on_disk = Path(nfd_repo.path) / CAFE_NFD / "cre\u0300me.py"
    on_disk.write_text("def latte():\n    return 2\n")
    os.utime(on_disk, ns=(on_disk.stat().st_mtime_ns + 10**9,) * 2)
    index_repository(nfd_repo)
    body = api_client.get("/api/search", {"q": "latte"}, **viewer_auth).json()
    assert [hit["path"] for hit in body["hits"]] == [f"{CAFE_NFC}/cr\u00e8me.py"]
    assert IndexedFile.objects.filter(removed_in__isnull=True).count() == 1


def test_two_names_that_differ_only_in_form_keep_the_first(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(
        tmp_path / "twins", {f"{CAFE_NFC}.txt": "composed\n", f"{CAFE_NFD}.txt": "decomposed\n"}
    )
    repository = Repository.objects.create(name="twins", path=str(repo))
    result = index_repository(repository)
    assert list(IndexedFile.objects.values_list("path", flat=True)) == [f"{CAFE_NFC}.txt"]
    reasons = [skipped.reason for skipped in result.skipped]
    assert any("another Unicode form" in reason for reason in reasons), reasons


@pytest.mark.parametrize("endpoint", ["file", "search"])
def test_a_path_that_grows_threefold_in_nfc_is_a_400(api_client, nfd_repo, viewer_auth, endpoint):
    """U+FB2C normalises to three characters: a 1,024-character path becomes 3,072, longer
    than any stored path may be."""
    url = f"/api/repositories/{nfd_repo.pk}/file" if endpoint == "file" else "/api/search"
    response = api_client.get(url, {"q": "espresso", "path": "\ufb2c" * 1024}, **viewer_auth)
    assert response.status_code == 400
    assert "path" in response.json()


def test_a_name_too_long_once_in_nfc_is_skipped_not_stored(tmp_path, settings):
    """Under the length limit as the disk spells it, over it in NFC: left out, reported."""
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    folder = "/".join(["\ufb2c" * 80] * 5)  # 404 characters on disk, 1,204 in NFC
    repo = write_repo(tmp_path / "long", {f"{folder}/a.txt": "x\n", "b.txt": "y\n"})
    repository = Repository.objects.create(name="long", path=str(repo))
    result = index_repository(repository)
    assert list(IndexedFile.objects.values_list("path", flat=True)) == ["b.txt"]
    assert [skipped.reason for skipped in result.skipped] == ["path too long"]
