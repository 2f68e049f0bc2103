"""The real server for the benchmarks: gunicorn on 127.0.0.1, waited for until healthy."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def start_gunicorn(env: dict, port: int, *, workers: int = 2, log=None) -> tuple[subprocess.Popen, str]:
    """gunicorn serving this checkout with `env`; returns the process and its base URL once
    /api/health answers (the caller terminates it)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mcpserver.wsgi:application", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT if log else None,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(f"{base}/api/health", timeout=1).ok:
                return server, base
        except requests.RequestException:  # not listening yet, or still booting
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    sys.exit(f"gunicorn on port {port} did not come up")
