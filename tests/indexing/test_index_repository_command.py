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


class Terminal(io.StringIO):
    """Where the bar is drawn when a person runs the command: a TTY."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def often(settings, monkeypatch):
    """Every progress report drawn, the model taking 8 chunks at a time: a small
    repository goes through several steps of each phase."""
    from indexing import indexer

    settings.MCP_SEMANTIC_BATCH_SIZE = 2
    monkeypatch.setattr(indexer, "PROGRESS_SECONDS", 0)


@pytest.fixture
def log_to(monkeypatch):
    """Log records written into `stream` (as the server's stderr handler writes them
    beside the bar), at INFO, as the command runs by default."""
    import logging

    handlers = []

    def attach(stream):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("LOG %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        handlers.append(handler)

    yield attach
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


def run_on_terminal(path, *args) -> tuple[str, str]:
    """As from a shell on a terminal with colours forced: BaseCommand styles stderr as
    errors (bold red) there."""
    from indexing.management.commands.index_repository import Command

    out, terminal = io.StringIO(), Terminal()
    command = Command(stderr=terminal, force_color=True)
    call_command(command, str(path), *args, stdout=out, force_color=True)
    return out.getvalue(), terminal.getvalue()


def test_help_describes_the_path_and_every_option():
    from indexing.management.commands.index_repository import Command

    text = " ".join(Command().create_parser("manage.py", "index_repository").format_help().split())
    assert "path The folder to index. It must lie under one of MCP_INDEX_ROOTS" in text
    assert "--name NAME The repository's name" in text
    assert "--no-semantic Skip embedding for this run only" in text
    assert "semantic setting is unchanged" in text


def test_the_bar_is_plain_shows_both_phases_and_the_time_left(
    sample_repo, semantic_on, often, log_to, capfd, monkeypatch
):
    from indexing import embeddings

    monkeypatch.setattr(embeddings, "_encoders", {})  # the model loads during this run
    terminal = Terminal()
    log_to(terminal)
    from indexing.management.commands.index_repository import Command

    command = Command(stderr=terminal, force_color=True)
    call_command(command, str(sample_repo), stdout=io.StringIO(), force_color=True)
    err = terminal.getvalue()

    assert "\x1b[" not in err  # no colour at all, least of all the error style
    screens = [line.rsplit("\r", 1)[-1].rstrip() for line in err.split("\n")]
    n = len(SAMPLES)
    assert f"text [{'#' * 30}] {n}/{n} files" in screens
    embedding = [screen for screen in screens if screen.startswith("embedding [")]
    assert len(embedding) == 1 and embedding[0].endswith(" chunks"), screens
    steps = err.split("embedding [")[1:]
    assert any(" s left" in step for step in steps), steps  # a rate, then an estimate
    # Log records start lines of their own, never after a bar on the same line.
    logged = [line for line in err.split("\n") if "LOG " in line]
    assert logged and all(line.startswith("LOG ") for line in logged), logged
    # The model's libraries keep quiet: no INFO chatter, no progress bar of their own.
    assert not any("sentence_transformers" in line for line in logged), logged
    assert "Loading weights" not in capfd.readouterr().err


def test_no_semantic_skips_embedding_for_this_run_only(sample_repo, semantic_on):
    from indexing.models import IndexedFile, Repository, SemanticChunk

    out, err = run_on_terminal(sample_repo, "--no-semantic")
    assert "semantic: embedding was skipped for this run" in out
    assert "embedding" not in err and "text [" in err
    assert not SemanticChunk.objects.exists()
    repository = Repository.objects.get()
    assert repository.semantic_enabled  # the repository's setting is left alone
    assert repository.last_job.stats["semantic"]["note"] == "embedding was skipped for this run"

    out, err = run_on_terminal(sample_repo)  # the next run embeds what was left
    assert "embedding [" in err
    assert SemanticChunk.objects.exists()
    assert not IndexedFile.objects.filter(embedded_with="").exists()
    assert "semantic: " in out and " chunks of 10 files embedded in " in out
