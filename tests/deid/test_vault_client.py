"""The HTTP connection to a deployed vault: token files, URLs, retries on real sockets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deid.contract.errors import VaultClientError, VaultUnavailableError
from deid.vault_client import VaultConnection, read_token_file


def _token_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_token_file_first_line_is_the_token(tmp_path: Path) -> None:
    assert read_token_file(_token_file(tmp_path, "\n  dvt_abc123 \n")) == "dvt_abc123"


@pytest.mark.parametrize(
    ("text", "mode", "problem"),
    [
        ("dvt_abc", 0o644, "chmod 600"),
        ("", 0o600, "is empty"),
        ("dvt abc", 0o600, "does not hold one API token"),
    ],
)
def test_bad_token_files_are_refused(tmp_path: Path, text: str, mode: int, problem: str) -> None:
    with pytest.raises(VaultClientError, match=problem):
        read_token_file(_token_file(tmp_path, text, mode))


def test_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(VaultClientError, match="cannot read the token file"):
        read_token_file(tmp_path / "nope")


def test_the_token_is_masked_in_repr() -> None:
    connection = VaultConnection("https://vault.example.org", "dvt_secret")
    assert "dvt_secret" not in repr(connection)
    connection.close()


@pytest.mark.parametrize("url", ["ftp://vault", "vault.example.org", ""])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(VaultClientError, match="not an http"):
        VaultConnection(url, "t")


def test_missing_ca_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultClientError, match="CA bundle"):
        VaultConnection("https://v.example.org", "t", ca_bundle=tmp_path / "ca.pem")


def test_a_ca_bundle_without_certificates_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    with pytest.raises(VaultClientError, match="holds no usable certificate"):
        VaultConnection("https://v.example.org", "t", ca_bundle=bundle)


def test_unreachable_vault_is_retried_with_backoff_then_reported() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    connection = VaultConnection(
        f"http://127.0.0.1:{port}", "t", retries=3, backoff=0.1, sleep=waits.append
    )
    with pytest.raises(VaultUnavailableError, match="after 4 attempts"):
        connection.request("POST", "/v1/x", json={"original": "SECRET"})
    assert waits == [0.1, 0.2, 0.4]
    connection.close()
