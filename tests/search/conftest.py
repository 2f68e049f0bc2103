import pytest

from indexing.indexer import index_repository
from indexing.models import Repository
from tests.conftest import bearer
from tests.factories import login_tokens
from tests.indexing.conftest import _on_commit_runs_at_once, write_repo  # noqa: F401

CODE = {
    "src/billing/invoice.py": (
        "import decimal\n\n\n"
        "class InvoiceTotal:\n"
        "    def compute_total(self, lines):\n"
        "        # sum every line of the invoice\n"
        "        return sum(line.amount for line in lines)\n\n\n"
        "def getCurrentUser(request):\n"
        "    return request.user\n"
    ),
    "src/web/app.js": "function renderPanel() { return 'panel'; }\nconst a_b = 1; // 100% sure\n",
    "docs/guide.md": "# Guide\nThe compute_total helper adds invoice lines.\n",
    "src/long.txt": "".join(f"filler line {n}\n" for n in range(1, 131)) + "needle at the end\n",
}


@pytest.fixture
def indexed_repo(tmp_path, settings):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    repo = write_repo(tmp_path / "shop", CODE)
    repository = Repository.objects.create(name="shop", path=str(repo))
    index_repository(repository)
    repository.refresh_from_db()
    return repository


@pytest.fixture
def viewer_auth(viewer):
    return bearer(login_tokens(viewer)["access_token"])
