"""Console passwords: scrypt hashes that name their parameters, and the password policy."""

import pytest

from vault.console.passwords import check_policy, hash_password, verify_password
from vault.errors import InvalidInputError


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("tulip anchor meadow 42")
    assert stored.split("$")[:4] == ["scrypt", "15", "8", "1"]
    assert "tulip" not in stored
    assert verify_password("tulip anchor meadow 42", stored)
    assert not verify_password("tulip anchor meadow 43", stored)
    assert not verify_password("", stored)


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same password here"), hash_password("same password here")
    assert first != second and first.split("$")[4] != second.split("$")[4]
    assert verify_password("same password here", first) and verify_password(
        "same password here", second
    )


@pytest.mark.parametrize(
    "stored",
    [None, "", "plain text", "bcrypt$12$x", "scrypt$40$8$1$AAAA$AAAA", "scrypt$15$8$1$!$!"],
)
def test_a_missing_or_foreign_hash_never_verifies(stored: str | None) -> None:
    assert not verify_password("anything at all", stored)


def test_a_huge_password_is_refused_without_work_on_it() -> None:
    assert not verify_password("x" * 100_000, hash_password("a normal passphrase"))


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "12 to 256 characters"),
        ("x" * 257, "12 to 256 characters"),
        ("my name is dr-lee ok", "must not contain the principal's name"),
    ],
)
def test_the_policy_refuses_weak_passwords(password: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        check_policy(password, "Dr-Lee")


def test_the_policy_accepts_a_passphrase() -> None:
    check_policy("correct horse battery staple", "dr-lee")
