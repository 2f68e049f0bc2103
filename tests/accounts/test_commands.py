import io
import sys

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_create_user_reads_the_password_from_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long passphrase 9\n"))
    out = io.StringIO()
    call_command("create_user", "ci-bot", "--role", "developer", "--password-stdin", stdout=out)
    user = User.objects.get(username="ci-bot")
    assert user.role.name == "developer"
    assert user.check_password("a long passphrase 9")
    assert "a long passphrase 9" not in out.getvalue()


def test_create_user_prompts_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    answers = iter(["typed passphrase 11", "typed passphrase 11"])
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    call_command("create_user", "alice", "--role", "viewer", stdout=io.StringIO())
    assert User.objects.get(username="alice").check_password("typed passphrase 11")


def test_create_user_has_no_password_argument():
    with pytest.raises(CommandError):
        call_command("create_user", "bob", "--password", "hunter2hunter2")


def test_create_user_without_terminal_or_stdin_flag_refuses(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("create_user", "bob")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["carol", "--role", "root"], "a long passphrase 9\n", "Unknown role 'root'"),
        (["carol", "--password-stdin"], "123\n", "Password refused"),
        (["carol", "--password-stdin"], "\n", "empty"),
        (["carol:x", "--password-stdin"], "a long passphrase 9\n", "Username refused"),
        (["c" * 151, "--password-stdin"], "a long passphrase 9\n", "Username refused"),
    ],
)
def test_create_user_refuses_bad_input(monkeypatch, args, stdin, message):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(CommandError, match=message):
        call_command("create_user", *args)
    assert not User.objects.filter(username="carol").exists()


def test_create_user_refuses_a_taken_username(monkeypatch, viewer):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long passphrase 9\n"))
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", viewer.username, "--password-stdin")


def test_create_api_key_prints_the_key_once_on_stdout(developer):
    from accounts import apikeys
    from accounts.models import ApiKey

    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key",
        developer.username,
        "--name",
        "ci",
        "--scopes",
        "index:read",
        "mcp:index:update",
        "--expires-days",
        "30",
        stdout=out,
        stderr=err,
    )
    secret = out.getvalue().strip()
    assert apikeys.is_well_formed(secret)
    assert secret not in err.getvalue() and secret[:12] in err.getvalue()
    key = ApiKey.objects.get()
    assert key.scopes == ["mcp:search:code", "mcp:index:update"]
    assert key.expires_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--name", "x", "--scopes", "index:read"], "No active user"),
        (["{user}", "--name", "x", "--scopes", "mcp:user:manage"], "not granted"),
        (["{user}", "--name", "x", "--scopes", "bogus"], "Unknown scope"),
        (["{user}", "--name", "x", "--scopes", "index:read", "--expires-days", "0"], "between"),
    ],
)
def test_create_api_key_refuses_bad_input(developer, args, message):
    args = [arg.format(user=developer.username) for arg in args]
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=io.StringIO(), stderr=io.StringIO())
