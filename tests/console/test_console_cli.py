"""``deid-vault principal set-password``, in process against real databases."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.world import ConsoleWorld, seed
from vault.cli import main
from vault.console import accounts
from vault.runtime import VaultRuntime


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[ConsoleWorld]:
    yield seed(runtime)


@pytest.fixture
def env(world: ConsoleWorld, key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = world.runtime.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("VAULT_DATABASE_URL", url)
    monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))


def _run(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.mark.usefixtures("env")
def test_set_password_from_standard_input(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = world.names["auditor"]
    code, out = _run(
        monkeypatch, "a passphrase from a pipe\n", "principal", "set-password", name,
        "--password-stdin",
    )  # fmt: skip
    assert code == 0 and f"console password of {name} set" in out
    assert "passphrase" not in out + capsys.readouterr().err
    runtime = world.runtime
    with runtime.transaction() as session:
        accounts.sign_in(session, runtime, name, "a passphrase from a pipe", "10.1.1.1")


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("stdin", "argv", "message"),
    [
        ("short\n", ["--password-stdin"], "12 to 256 characters"),
        ("", [], "no terminal to ask for the password"),
    ],
)
def test_set_password_refusals(
    world: ConsoleWorld,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str,
    argv: list[str],
    message: str,
) -> None:
    code, _ = _run(monkeypatch, stdin, "principal", "set-password", world.names["auditor"], *argv)
    assert code == 2 and message in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_set_password_of_nobody(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _run(monkeypatch, "long enough passphrase\n", "principal", "set-password", "ghost",
                   "--password-stdin")  # fmt: skip
    assert code == 2 and "principal ghost not found" in capsys.readouterr().err
