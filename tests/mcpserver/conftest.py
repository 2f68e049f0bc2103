from tests.indexing.conftest import _on_commit_runs_at_once  # noqa: F401
from tests.search.conftest import indexed_repo  # noqa: F401
