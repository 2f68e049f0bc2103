"""The real server (gunicorn) and worker, and the official MCP Python SDK as the client,
over Streamable HTTP: in both protocol eras (the 2026-07-28 stateless revision, which
the SDK probes first, and the initialize handshake)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.factories import UserFactory, api_key_for
from tests.indexing.conftest import write_repo
from tests.processes import ROOT, free_port, process_env, wait_until_healthy

INDEX_TOOLS = {"index_repository", "reindex_repository"}
MODES = ["auto", "legacy"]


@pytest.fixture
def live(tmp_path, settings):
    """gunicorn on 127.0.0.1 plus a db_worker, sharing the test database."""
    roots = tmp_path / "roots"
    roots.mkdir()
    settings.MCP_INDEX_ROOTS = [str(roots)]
    env = process_env(MCP_INDEX_ROOTS=str(roots))
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mcpserver.wsgi:application",
             "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "60"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log)
        yield base, roots
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            process.wait(timeout=30)


def connect(base: str, secret: str | None, mode: str):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    class Connection:
        async def __aenter__(self):
            self.http = await httpx2.AsyncClient(headers=headers).__aenter__()
            self.client = Client(
                streamable_http_client(f"{base}/mcp", http_client=self.http), mode=mode
            )
            return await self.client.__aenter__()

        async def __aexit__(self, *exc):
            try:
                await self.client.__aexit__(*exc)
            finally:
                await self.http.__aexit__(*exc)

    return Connection()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", MODES)
def test_a_viewer_searches_but_cannot_index(live, mode):
    base, _roots = live
    secret = api_key_for(UserFactory(role__name="viewer"), scopes=("mcp:search:code",))

    async def scenario():
        async with connect(base, secret, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "search_code" in names and not names & INDEX_TOOLS
            with pytest.raises(MCPError) as refused:
                await client.call_tool("index_repository", {"path": "/srv/repo"})
            assert "mcp:index:create" in str(refused.value)
            bad = await client.call_tool("search_code", {"query": 42})
            assert bad.is_error and "is not of type 'string'" in bad.content[0].text

    run(scenario())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", MODES)
def test_a_developer_indexes_then_searches_through_tools(live, mode):
    base, roots = live
    repo = write_repo(
        roots / "shop",
        {
            "billing/invoice.py": "class Invoice:\n    def grand_total(self):\n        return 42\n",
            "README.md": "# Shop\nThe grand_total of an invoice.\n",
        },
    )
    scopes = ("mcp:search:code", "mcp:index:create", "mcp:index:update")
    secret = api_key_for(UserFactory(role__name="developer"), scopes=scopes)

    async def wait_for_job(client, job_id):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = (await client.call_tool("job_status", {"job_id": job_id})).structured_content
            if job["job"]["state"] in ("succeeded", "failed"):
                return job["job"]
            await asyncio.sleep(0.2)
        raise AssertionError("the indexing job did not finish")

    async def scenario():
        async with connect(base, secret, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert INDEX_TOOLS <= names
            started = await client.call_tool("index_repository", {"path": str(repo)})
            assert not started.is_error, started.content
            job = await wait_for_job(client, started.structured_content["job_id"])
            assert job["state"] == "succeeded", job

            found = await client.call_tool("search_code", {"query": "grand_total"})
            hits = found.structured_content["hits"]
            assert {(hit["path"], hit["line"]) for hit in hits} == {
                ("billing/invoice.py", 2),
                ("README.md", 2),
            }
            symbols = await client.call_tool("search_symbols", {"name": "grandTotal"})
            assert symbols.structured_content["symbols"][0]["name"] == "grand_total"
            text = await client.call_tool(
                "get_file", {"repository": "shop", "path": "billing/invoice.py", "end_line": 1}
            )
            assert text.structured_content["content"] == "class Invoice:\n"
            again = await client.call_tool("reindex_repository", {"repository": "shop"})
            assert (await wait_for_job(client, again.structured_content["job_id"]))["state"] == (
                "succeeded"
            )

    run(scenario())


@pytest.mark.django_db(transaction=True)
def test_no_key_is_a_401_with_the_metadata_url(live):
    base, _roots = live
    response = requests.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert response.status_code == 401
    metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in response.headers["WWW-Authenticate"]
    metadata = requests.get(metadata_url, timeout=10).json()
    assert metadata["resource"] == f"{base}/mcp"

    async def scenario():
        async with connect(base, None, "legacy") as client:
            await client.list_tools()

    with pytest.raises(BaseException) as refused:  # unwrapped below
        run(scenario())
    errors = [refused.value]
    while errors and isinstance(errors[0], BaseExceptionGroup):  # the SDK's task groups
        errors = list(errors[0].exceptions) + errors[1:]
    assert isinstance(errors[0], MCPError), refused.value
    assert "credentials were not provided" in str(errors[0])


@pytest.mark.django_db(transaction=True)
def test_an_oversized_body_is_refused_over_http(live):
    base, _roots = live
    secret = api_key_for(UserFactory(role__name="viewer"))
    response = requests.post(
        f"{base}/mcp",
        data=b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": "' + b"x" * 2_000_000 + b'"}',
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600
