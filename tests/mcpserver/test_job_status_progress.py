"""The MCP job_status tool shows a job's phase, the phase's done/total and the time left,
as GET /api/jobs/{id} does (the same serializer), while the job runs and after."""

import json

import pytest

from indexing import indexer, services
from indexing.models import Repository, SemanticChunk
from tests.factories import api_key_for
from tests.indexing.conftest import SAMPLES, write_repo

pytestmark = pytest.mark.django_db


def job_status(client, auth, job_id) -> dict:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "job_status", "arguments": {"job_id": job_id}},
    }
    response = client.generic(
        "POST",
        "/mcp",
        json.dumps(message),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_MCP_PROTOCOL_VERSION="2025-11-25",
        **auth,
    )
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert not result["isError"], result
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result["structuredContent"]["job"]


def test_job_status_follows_the_phases(
    api_client, viewer, tmp_path, settings, semantic_on, monkeypatch
):
    settings.MCP_INDEX_ROOTS = [str(tmp_path)]
    settings.MCP_SEMANTIC_BATCH_SIZE = 2  # the model takes 8 chunks at a time
    monkeypatch.setattr(indexer, "PROGRESS_SECONDS", 0)  # every report written
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(viewer, scopes=('mcp:search:code',))}"}
    repository = Repository.objects.create(
        name="sample", path=str(write_repo(tmp_path / "sample", SAMPLES))
    )
    job = services.job_enqueue(repository=repository, run_in_background=False)
    seen = {}

    def look(phase, done, total):
        # One look per kind of moment: the tool calls share the caller's call budget.
        moment = (phase, "start" if not done else "end" if done == total else "middle")
        if moment not in seen:
            seen[moment] = job_status(api_client, auth, job.pk)

    services.job_run(job_id=job.pk, progress=look, requeue=False)

    middle = seen["embedding", "middle"]
    assert middle["state"] == "running"
    assert (middle["phase"], middle["phase_unit"]) == ("embedding", "chunks")
    assert 0 < middle["phase_done"] < middle["phase_total"]
    assert isinstance(middle["eta_seconds"], int) and middle["eta_seconds"] >= 0
    assert middle["duration_seconds"] > 0
    assert middle["progress"] == {"done": len(SAMPLES), "total": len(SAMPLES)}
    assert seen["embedding", "start"]["eta_seconds"] is None  # loading, counting: no rate
    text = seen["text", "end"]
    assert (text["phase"], text["phase_unit"], text["phase_done"]) == ("text", "files", 10)

    done = job_status(api_client, auth, job.pk)
    chunks = SemanticChunk.objects.count()
    assert done["state"] == "succeeded" and done["eta_seconds"] is None
    assert (done["phase"], done["phase_done"], done["phase_total"]) == ("embedding", chunks, chunks)


def test_the_tool_says_what_it_reports(api_client, viewer):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(viewer, scopes=('mcp:search:code',))}"}
    response = api_client.generic(
        "POST",
        "/mcp",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        content_type="application/json",
        HTTP_ACCEPT="application/json, text/event-stream",
        HTTP_MCP_PROTOCOL_VERSION="2025-11-25",
        **auth,
    )
    tools = {tool["name"]: tool for tool in response.json()["result"]["tools"]}
    description = tools["job_status"]["description"]
    assert "phase" in description and "time left" in description
