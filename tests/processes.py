"""Running the real server and worker as separate processes against the test database."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_of_test_db() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that shares this test run's database and cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MCP_"))}
    env.update(
        {
            "DATABASE_URL": database_url_of_test_db(),
            "MCP_DATA_DIR": str(settings.MCP_DATA_DIR),
            "JWT_KEY_ENCRYPTION_KEY": settings.JWT_KEY_ENCRYPTION_KEY,
            "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
            "PYTHONUNBUFFERED": "1",
            "MCP_SEMANTIC_ENABLED": "true" if settings.MCP_SEMANTIC_ENABLED else "false",
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def wait_until_healthy(base: str, process, log: Path, *, timeout: float = 90) -> None:
    """Wait for /api/health to answer 200; fail the test with the server's log if it never does."""
    import time

    import pytest
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still booting
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail("the server did not come up:\n" + log.read_text())
        time.sleep(0.2)


def start_gunicorn(tmp_path: Path, env: dict[str, str], *, python: tuple[str, ...] = ()):
    """gunicorn (two workers) on a free 127.0.0.1 port with this environment, healthy;
    returns (base URL, process). Its output goes to tmp_path/server.log. `python`: the
    interpreter and its options, this one by default."""
    import subprocess
    import sys

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*(python or (sys.executable,)), "-m", "gunicorn", "mcpserver.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--timeout", "60"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log)
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    return base, process



class RedisServer:
    """A redis-server of the test's own on a free 127.0.0.1 port (never the shared one), so
    that a test may stop, restart or cap it; `extra_args` go to redis-server."""

    def __init__(self, workdir: Path, *extra_args: str):
        self.port = free_port()
        self.workdir = workdir
        self.extra_args = extra_args
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import shutil
        import subprocess
        import time

        import pytest
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs redis-server on the PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def run_python(args: list[str], env: dict[str, str], *, umask: int | None = None):
    """This interpreter with `args`, in the project folder, seeing only the settings the
    test gives: none of the run's own (DATABASE_URL, REDIS_URL, secrets...), and not a
    developer's .env either (its variables are set, empty, which load_dotenv keeps)."""
    import subprocess
    import sys

    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "JWT_", "MCP_", "DATABASE_", "REDIS_", "CACHE_"))
    }
    clean.update({"DJANGO_SECRET_KEY": "", "DATABASE_URL": "", "REDIS_URL": "", "MCP_ENV": ""})
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )
