"""manage.py index_repository: its help, its progress bar, its summary, --no-semantic."""

import io

import pytest
from django.core.management import call_command

from tests.indexing.conftest import SAMPLES, write_repo

pytestmark = pytest.mark.django_db


def index(path, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("index_repository", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_summary_counts_every_file(sample_repo):
    write_repo(sample_repo, {"logo.png": b"\x89PNG\x00", "font.woff": b"wOFF\x00\x01"})
    out, _ = index(sample_repo, "--name", "cli")
    summary = out.splitlines()[0]
    assert summary.startswith(
        f"Indexed cli: {len(SAMPLES) + 2} files, {len(SAMPLES)} added, 0 changed, "
        "0 unchanged, 2 binary, 0 skipped; 0 removed; in "
    ), summary
