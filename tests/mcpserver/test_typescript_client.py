"""The official MCP TypeScript SDK (npm, tests/clients/typescript) against the real server
(gunicorn): connect, list, call, and no error reported through its onerror hooks (issue 16).

SDK 1.x opens its listening stream with a background GET (Accept: text/event-stream) after
notifications/initialized; 405 is the answer it expects from a server without one, any
other (406 was the bug) reaches onerror on every connect. Needs node and npm on the PATH;
the first run installs the pinned SDK with `npm ci` into the project's node_modules."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time

import pytest

from indexing.indexer import index_repository
from indexing.models import Repository
from tests.factories import UserFactory, api_key_for
from tests.indexing.conftest import write_repo
from tests.processes import ROOT, process_env, start_gunicorn

PROJECT = ROOT / "tests" / "clients" / "typescript"
NODE, NPM = shutil.which("node"), shutil.which("npm")
PACKAGE = json.loads((PROJECT / "package.json").read_text())
SDK = PACKAGE["dependencies"]["@modelcontextprotocol/sdk"]  # pinned exactly

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="the TypeScript SDK client test needs node and npm on the PATH",
)


def _installed() -> bool:
    """node_modules matches package-lock.json: npm's own record of the install is newer
    than the lock file, and the SDK there is the pinned version."""
    record = PROJECT / "node_modules" / ".package-lock.json"
    sdk = PROJECT / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
    if not (record.is_file() and sdk.is_file()):
        return False
    if record.stat().st_mtime < (PROJECT / "package-lock.json").stat().st_mtime:
        return False
    return json.loads(sdk.read_text())["version"] == SDK


@pytest.fixture(scope="module")
def node_project():
    """The client project with its node_modules installed (once; reused while current)."""
    with (PROJECT / "package-lock.json").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run in this working tree may be installing
        if not _installed():
            done = subprocess.run(
                [NPM, "ci", "--no-audit", "--no-fund"],
                cwd=PROJECT,
                env={**os.environ, "npm_config_update_notifier": "false"},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
            assert _installed(), "npm ci did not install the pinned SDK"
    return PROJECT


@pytest.fixture
def server(tmp_path, settings):
    """gunicorn on the test database, with one small repository indexed."""
    roots = tmp_path / "roots"
    settings.MCP_INDEX_ROOTS = [str(roots)]
    repo = write_repo(
        roots / "shop",
        {
            "billing/invoice.py": "class Invoice:\n    def grand_total(self):\n        return 42\n",
            "README.md": "# Shop\n",
        },
    )
    index_repository(Repository.objects.create(name="shop", path=str(repo)))
    base, process = start_gunicorn(tmp_path, process_env(MCP_INDEX_ROOTS=str(roots)))
    try:
        yield f"{base}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_client(project, url: str, key: str, protocol: str | None = None) -> dict:
    """client.mjs's report, with its exit status and how long it took."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MCP_")}
    env.update(MCP_API_KEY=key, MCP_CLIENT_TIMEOUT_MS="20000")
    if protocol:
        env["MCP_CLIENT_PROTOCOL_VERSION"] = protocol
    started = time.monotonic()
    done = subprocess.run(
        [NODE, "client.mjs", url],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no report from client.mjs (exit {done.returncode}):\n{done.stderr}"
    report = json.loads(lines[-1])
    report["seconds"] = round(time.monotonic() - started, 2)
    report["exit"] = done.returncode
    return report


def summary(report: dict) -> str:
    """What went wrong, for an assertion's message: the errors, then the exchanges."""
    exchanges = ", ".join(
        f"{exchange['method']} {exchange['rpc'] or ''} {exchange['status']}".replace("  ", " ")
        for exchange in report["http"]
    )
    return "\n".join(
        [
            f"exit {report['exit']}, stage {report['stage']}, failure {report['failure']}",
            *(f"onerror: {json.dumps(error)}" for error in report["errors"]),
            f"HTTP: {exchanges}",
            f"calls: {json.dumps(report['calls'])[:2000]}",
        ]
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "protocol",
    [
        None,  # the SDK's own initialize: its latest revision, which the server speaks
        "2025-03-26",  # an older client: the server agrees to its revision
        "2024-11-05",  # one the server does not speak: it answers with its latest
    ],
    ids=["sdk-default", "2025-03-26", "2024-11-05"],
)
def test_the_typescript_sdk_connects_lists_and_calls_without_errors(node_project, server, protocol):
    key = api_key_for(UserFactory(role__name="viewer"), scopes=("mcp:search:code",))
    report = run_client(node_project, server, key, protocol)
    shown = summary(report)

    assert report["sdk"] == SDK
    assert report["errors"] == [], f"the SDK reported errors through onerror:\n{shown}"
    assert report["failure"] is None, shown
    assert report["exit"] == 0 and report["ok"], shown
    assert report["protocolVersion"] == {None: "2025-11-25", "2024-11-05": "2025-11-25"}.get(
        protocol, protocol
    )
    assert "search_code" in report["tools"] and "list_repositories" in report["tools"]
    search = report["calls"]["search_code"]
    assert not search["isError"] and search["structured"] and search["hits"] >= 1, shown
    listing = report["calls"]["list_repositories"]
    assert not listing["isError"] and listing["structured"], shown
    # The SDK did open its listening stream, and was told there is none.
    streams = [exchange for exchange in report["http"] if exchange["method"] == "GET"]
    assert streams and {exchange["status"] for exchange in streams} == {405}, shown
    assert streams[0]["accept"] == "text/event-stream"
    assert streams[0]["protocolVersion"] == report["protocolVersion"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("key", "reason"),
    [("mcp_not-a-real-key", "Invalid API key"), ("", "credentials were not provided")],
    ids=["invalid-key", "no-key"],
)
def test_a_bad_key_fails_the_connect_with_a_401_at_once(node_project, server, key, reason):
    report = run_client(node_project, server, key)
    shown = summary(report)

    assert report["exit"] == 1, shown  # failed, not timed out (2)
    assert report["failure"]["stage"] == "connect", shown
    assert report["failure"]["code"] == 401, shown
    assert reason in report["failure"]["message"], shown  # the server's reason reaches the user
    assert report["tools"] == [] and report["calls"] == {}
    assert [exchange["status"] for exchange in report["http"]] == [401], shown
    assert report["seconds"] < 15, shown
