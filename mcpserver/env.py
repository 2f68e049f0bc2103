"""Reading the environment for settings.py.

Only settings.py imports this module. An empty value means "not set" (so a
copied .env.example changes nothing). Values are parsed strictly: a typo in a
boolean or a number stops the process with a message naming the variable,
instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mcpserver.datadir import private_dir, private_file

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def absolute_paths(name: str, paths: list[str]) -> list[str]:
    """`paths` (read from the variable `name`), refused unless every one is absolute: a
    relative one would depend on the folder each process happens to start in."""
    relative = [path for path in paths if not os.path.isabs(path)]
    if relative:
        raise ImproperlyConfigured(
            f"{name} must list absolute paths, not {', '.join(map(repr, relative))}."
        )
    return paths


def persistent_secret(path: Path, *, nbytes: int = 48) -> str:
    """Return the secret kept in `path`, creating it on first use.

    Used for the embedded default only: a development machine gets stable
    secrets across restarts without anyone having to invent one. O_EXCL makes
    the first writer win when several processes start at once; the others read
    what it wrote. The folder is made (or tightened to) 0700 and the file is 0600:
    no other local user may read it.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        private_file(path)
        for _attempt in range(50):
            value = path.read_text().strip()
            if value:
                return value
            # Another process created the file and has not written it yet.
            time.sleep(0.01)
        raise ImproperlyConfigured(
            f"{path} is empty: delete it to generate a new secret."
        ) from None
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
