"""The README's run command installs what running needs, and that is enough to serve.

The bug: "On a fresh machine" started the server after `pip install -e '.[dev]'` (the test
tools and PyTorch, 1.7 GB) while saying "nothing else to install". It now installs `-e .`
(about 160 MB): semantic search is the opt-in `semantic` extra.

A fresh virtual environment per test run would cost a minute and the network; instead the
real server runs here with every installed distribution that `pip install -e .` would not
bring made unimportable, computed from the installed packages' own metadata (the same
set a fresh `pip install -e .` installs, pip and setuptools aside).
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys

import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.processes import ROOT, free_port, wait_until_healthy

README = (ROOT / "README.md").read_text()
PACKAGE = "mcp-code-server"
ALWAYS_THERE = {"pip", "setuptools"}  # what python3 -m venv puts in every environment


def test_the_run_command_installs_no_extra():
    fresh = README.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    run_command = re.search(r"```sh\n(.*?manage\.py quickstart.*?)\n```", fresh).group(1)
    assert "pip install -q -e . &&" in run_command, run_command
    assert "[" not in run_command, "the run command installs an extra"
    # The test command still installs the test tools.
    assert "pip install -q -e '.[dev]' && .venv/bin/pytest" in fresh
    # And the README says what semantic search costs and how to add it.
    assert ".venv/bin/pip install -q -e '.[semantic]'" in fresh


def base_install() -> set[str]:
    """The distributions `pip install -e .` brings: the package's requirements without its
    extras, and theirs, with the extras they ask of each other (psycopg[binary])."""
    found, seen, todo = set(), set(), [(PACKAGE, ())]
    while todo:
        name, extras = todo.pop()
        name = canonicalize_name(name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in ("", *extras)):
                continue
            todo.append((requirement.name, tuple(sorted(requirement.extras))))
    return found


def modules_outside_the_base_install() -> list[str]:
    base = base_install() | ALWAYS_THERE
    owners = metadata.packages_distributions()
    return sorted(
        module
        for module, distributions in owners.items()
        if not {canonicalize_name(d) for d in distributions} & base
    )


# Runs first: an import of a module the base install lacks fails as it would there. Then
# `python -c BLOCKER manage.py ARGS` or `python -c BLOCKER -m MODULE ARGS`; gunicorn forks
# its workers from this process, so they inherit it.
BLOCKER = """
import runpy, sys
from importlib.machinery import PathFinder
BLOCKED = frozenset({blocked!r})

class WithoutExtras(PathFinder):
    # As if not installed: the file system search finds nothing, so `import numpy` raises
    # ModuleNotFoundError and importlib.util.find_spec("numpy") is None.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        return super().find_spec(name, path, target)

sys.meta_path[:] = [WithoutExtras if f is PathFinder else f for f in sys.meta_path]
assert not BLOCKED & set(sys.modules)
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_server_serves_with_only_the_base_install(tmp_path):
    blocked = modules_outside_the_base_install()
    # The check is only worth something if it hides what the extras bring.
    assert {"torch", "sentence_transformers", "numpy", "pytest", "mcp", "requests"} <= set(blocked)
    blocker = BLOCKER.format(blocked=blocked)
    env = {
        "PATH": "/usr/bin:/bin",
        "MCP_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SECRET_KEY": "",
        "DATABASE_URL": "",
        "REDIS_URL": "",
    }

    def manage(*args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-c", blocker, "manage.py", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("quickstart", "--no-serve")
    manage(
        "create_user",
        "alice",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="a long passphrase 1\n",
    )
    key = manage("create_api_key", "alice", "--name", "t", "--scopes", "search:read").strip()
    auth = {"Authorization": f"Bearer {key}"}

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", blocker, "-m", "gunicorn", "mcpserver.wsgi:application",
             "--workers", "1", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log)
        assert requests.get(f"{base}/", timeout=10).status_code == 200
        assert requests.get(f"{base}/api/docs/", timeout=10).status_code == 200
        assert requests.get(f"{base}/api/search?q=x", headers=auth, timeout=10).status_code == 200
        # No semantic search: a 501 that says how to add it, not a crash...
        semantic = requests.get(
            f"{base}/api/search/semantic",
            params={"q": "where are sessions deleted"},
            headers=auth,
            timeout=10,
        )
        assert semantic.status_code == 501, semantic.text
        assert ".[semantic]" in semantic.json()["detail"]
        # ... and no semantic tool for MCP clients.
        listed = requests.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**auth, "Accept": "application/json, text/event-stream",
                     "MCP-Protocol-Version": "2025-06-18"},
            timeout=10,
        )  # fmt: skip
        assert listed.status_code == 200, listed.text
        tools = {tool["name"] for tool in listed.json()["result"]["tools"]}
        assert "search_code" in tools and "semantic_search" not in tools
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()
