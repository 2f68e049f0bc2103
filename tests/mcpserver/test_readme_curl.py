"""The README's curl examples, pasted into bash as they are, against the real server.

The bugs: the walkthrough said `ACCESS=…   # paste access_token` (so $ACCESS held "…"
when pasted), the semantic example had raw spaces in its URL (curl refuses it), and the
audit and API-key examples used $ADMIN and $KEY, which nothing set.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.mcpserver.test_quickstart import quickstart_server  # noqa: F401 (a fixture)
from tests.processes import ROOT

pytestmark = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("curl") and shutil.which("python3")),
    reason="pastes the README into bash, with curl and python3",
)

README = (ROOT / "README.md").read_text()
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
README_BASE = "http://127.0.0.1:8000"


def block_with(marker: str) -> str:
    (block,) = [block for block in SHELL_BLOCKS if marker in block]
    return block


def paste(script: str, base: str, data_dir, *, stdin: str = "") -> str:
    """Run `script` as pasted into bash, against `base`: only the address and the path of
    the interpreter are changed. Any failing command fails the test."""
    script = script.replace(README_BASE, base).replace(".venv/bin/python", sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_", "MCP_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["MCP_DATA_DIR"] = str(data_dir)  # the quickstart server's database
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{script}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def code_lines():
    """Every command line of the README's shell blocks, comments and continuations joined."""
    for block in SHELL_BLOCKS:
        for line in block.replace("\\\n", " ").splitlines():
            code = re.sub(r"(^|\s)#.*$", "", line).strip()
            if code:
                yield code


def test_every_shell_variable_the_readme_uses_is_set_by_a_line_of_it():
    used, assigned = set(), {"HOME"}
    for code in code_lines():
        # A placeholder is not a value: `ACCESS=…   # paste access_token`.
        assert not re.search(r"\b[A-Z_]+=…", code), code
        assigned |= set(re.findall(r"(?:^|[;&]\s*)([A-Z_]+)=", code))
        assigned |= set(re.findall(r"\bread\b.* ([A-Z_]+)(?:;|$)", code))
        used |= set(re.findall(r"\$\{?([A-Z_]+)", code))
    assert used - assigned == set()


def test_no_curl_url_holds_a_raw_space():
    urls = [
        word
        for code in code_lines()
        if "curl " in code
        for word in shlex.split(code)
        if word.startswith("http")
    ]
    # The semantic search example is a command to paste, not a URL with spaces in prose.
    assert any("/api/search/semantic" in url for url in urls)
    for url in urls:
        assert " " not in url, url


def test_the_readme_pasted_into_bash_works(tmp_path, quickstart_server):  # noqa: F811
    base, password = quickstart_server
    script = "\n".join(
        [
            block_with("# 1. Create a user"),
            # Is the $ACCESS the walkthrough leaves (from its second login) a working token?
            f'curl -s -w "\\nafter the walkthrough: %{{http_code}}\\n" {base}/auth/me '
            '-H "Authorization: Bearer $ACCESS"',
            # The sections after it, pasted in the same shell: semantic search, the audit
            # trail (the admin's password typed at the prompt), API keys.
            block_with("api/search/semantic"),
            block_with("api/audit"),
            block_with("X-API-Key"),
        ]
    )
    out = paste(script, base, tmp_path, stdin=password + "\n")
    assert "Created alice with role developer." in out
    assert '"expires_in":1800' in out
    assert '"username":"alice"' in out  # /auth/me with the captured token
    assert '"scope":"mcp:search:code"' in out  # the narrowed login
    assert "HTTP/1.1 401 Unauthorized" in out
    assert 'error_description="Token has been revoked"' in out
    assert "after the walkthrough: 200" in out
    # Two answers of the server's (hits, or a 501 without the extra), not curl errors.
    semantic = re.findall(r'\{"mode":"(?:semantic|hybrid)"|Semantic search is not installed', out)
    assert len(semantic) == 2, out
    assert '{"next":null,"previous":null,"results":[' in out  # the audit trail, as admin
    assert '"auth_method":"api_key"' in out  # the key $KEY captured works
