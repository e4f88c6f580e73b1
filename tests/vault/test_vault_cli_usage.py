"""``deid-vault``'s help, exit statuses and refusals: clear, one line, never a traceback."""

from __future__ import annotations

import argparse
import errno
import io
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault.databases import database_url
from vault.cli import build_parser, main
from vault.cli.errors import (
    EXIT_CANNOT_LISTEN,
    EXIT_CHECK_FAILED,
    EXIT_DATABASE_UNREACHABLE,
    EXIT_ERROR,
    EXIT_STATUS_HELP,
)
from vault.cli.parser import ROLE_NAMES
from vault.cli.program import handler_for
from vault.cli.serve import _why_not
from vault.models import Role


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_command_and_option_has_help_and_shows_its_default() -> None:
    commands = list(_commands(build_parser()))
    assert len(commands) >= 30
    for path, parser in commands:
        assert parser.description, path
        help_text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            assert action.help, (path, action.dest)
            shown = action.default not in (None, False, [], "")
            if action.option_strings and shown:
                assert f"(default: {action.default})" in " ".join(help_text.split()), (
                    path,
                    action.dest,
                )
        if parser.get_default("handler"):
            assert callable(handler_for(parser.get_default("handler"))), path


def test_the_top_level_help_ends_with_the_exit_status_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("--help")[0] == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(EXIT_STATUS_HELP.rstrip())
    for status in ("0", "1", "2", "3", "4", "130"):
        assert f"\n  {status} " in printed
    for command in ("init", "serve", "db", "principal", "token", "trial", "keys", "audit"):
        assert command in printed


def test_the_roles_the_parser_names_are_the_vaults() -> None:
    assert set(ROLE_NAMES) == {r.value for r in Role}


def test_building_the_parser_loads_no_database_or_web_code() -> None:
    probe = (
        "import sys, vault.cli; vault.cli.build_parser().format_help(); "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi', 'uvicorn', "
        "'cryptography', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize(
    ("env", "argv", "status", "message"),
    [
        ({"VAULT_DATABASE_URL": "not a url"}, ["db", "check"], EXIT_ERROR, "is not a URL"),
        ({"VAULT_DATABASE_URL": "mysql://u@h/d"}, ["db", "check"], EXIT_ERROR, "PostgreSQL or"),
        ({"VAULT_DATABASE_URL": "sqlite:////nonexistent/v.db"}, ["db", "upgrade"], EXIT_ERROR,
         "folder /nonexistent does not exist"),
        ({"VAULT_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/d"}, ["db", "check"],
         EXIT_DATABASE_UNREACHABLE, "cannot reach the database"),
        ({"VAULT_DATABASE_URL": None}, ["trial", "list"], EXIT_ERROR, "VAULT_DATABASE_URL"),
        ({"VAULT_KEY_DIR": "/nonexistent"}, ["principal", "list"], EXIT_ERROR,
         "/nonexistent/master.keyring does not exist"),
        ({"VAULT_CONSOLE_SECURE_COOKIES": "false"}, ["token", "list"], EXIT_ERROR,
         "VAULT_CONSOLE_SECURE_COOKIES=false is allowed only"),
        ({}, ["audit", "export", "--output", "/nonexistent/audit.jsonl"], EXIT_ERROR,
         "/nonexistent/audit.jsonl: No such file or directory"),
        ({}, ["trial", "create", "T", "--config", "/nonexistent.toml"], EXIT_ERROR,
         "cannot read trial configuration"),
        ({}, ["token", "create", "ghost"], EXIT_ERROR, "principal ghost not found"),
        ({}, ["principal", "grant", "ghost", "--role", "wizard"], EXIT_ERROR, "unknown role"),
        ({}, ["audit", "verify", "--public-key", "/etc/hostname"], EXIT_ERROR,
         "cannot read audit public key"),
        ({}, ["keys", "reencrypt", "--trial", "NOPE"], EXIT_ERROR, "trial not found"),
        ({}, ["import", "/nonexistent.bundle", "--key", "/nonexistent.key"], EXIT_ERROR,
         "transfer private key /nonexistent.key does not exist"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_an_exit_status(
    env: dict[str, str | None],
    argv: list[str],
    status: int,
    message: str,
    initialized: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, value)
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert (code, out) == (status, ""), err
    assert err.count("\n") == 1 and err.startswith("deid-vault: error: ") and message in err


@pytest.fixture
def initialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An initialized SQLite vault named by the environment."""
    with database_url("sqlite", tmp_path) as url:
        key_dir = tmp_path / "keys"
        assert main(["init", "--key-dir", str(key_dir), "--database-url", url], io.StringIO()) == 0
        monkeypatch.setenv("VAULT_DATABASE_URL", url)
        monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))
        monkeypatch.chdir(tmp_path)
        yield url, key_dir


def test_the_checks_answer_one_and_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out = run("db", "check")
    assert code == EXIT_CHECK_FAILED and "deid-vault db upgrade" in out


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "another program listens there already"),
        ("192.0.2.1", "192.0.2.1 is not an address of this machine"),
        ("999.1.1.1", "neither an IP address nor a name this machine resolves"),
    ],
)
def test_serve_reports_an_address_it_cannot_take_before_claiming_to_serve(
    host: str,
    message: str,
    occupied_port: int,
    initialized: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run("serve", "--host", host, "--port", str(occupied_port))
    err = capsys.readouterr().err
    assert (code, out) == (EXIT_CANNOT_LISTEN, ""), err
    assert err.count("\n") == 1 and message in err


def test_serve_as_a_process_says_nothing_of_serving_when_the_port_is_taken(
    occupied_port: int, initialized: tuple[str, Path]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vault.cli", "serve", "--port", str(occupied_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_CANNOT_LISTEN
    assert done.stdout == "" and "serving" not in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_privileged_port_is_explained() -> None:
    # Root may bind any port, so the refusal cannot be provoked here: its wording is checked.
    message = _why_not(OSError(errno.EACCES, "Permission denied"), "127.0.0.1", 443)
    assert "ports below 1024 need root or CAP_NET_BIND_SERVICE" in message


def test_a_bad_port_or_worker_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("serve", "--port", "70000")[0] == EXIT_ERROR
    assert "must be 1 to 65535" in capsys.readouterr().err
    assert run("serve", "--workers", "0")[0] == EXIT_ERROR
    assert "must be at least 1" in capsys.readouterr().err
