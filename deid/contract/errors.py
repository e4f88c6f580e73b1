"""The error base of the ``deid`` program, and the errors both vault clients raise.

Every error ``deid`` raises on purpose derives from :class:`DeidError` and carries
the exit status a command ends with when the error stops it (``deid --help``
lists them). Errors of the file at hand are handled where they arise (a file is
quarantined); what reaches the command line is printed once, by :mod:`deid.cli`.
Anything else that escapes is a bug and is left to show itself as one.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitStatus(IntEnum):
    """What a ``deid`` command returns."""

    OK = 0
    """Done; for ``run`` every input was written (or had been by an earlier run)."""
    PROBLEMS = 1
    """Done, with problems: inputs quarantined or failed, a contradicting recipe."""
    USAGE = 2
    """The command line, a recipe, a trial configuration or a folder is unusable."""
    STORE = 3
    """The mapping store (or the vault) could not be reached, or failed or refused."""
    PENDING = 4
    """``reidentify``: requests wait for an approver."""
    INTERRUPTED = 130
    """Ctrl-C; a rerun resumes."""


class DeidError(Exception):
    """Base of every error ``deid`` raises on purpose; the message says what to do."""

    exit_status: ClassVar[ExitStatus] = ExitStatus.PROBLEMS


class UsageError(DeidError):
    """Something the user asked for cannot work; the message says what to do instead."""

    exit_status = ExitStatus.USAGE


class VaultClientError(DeidError, RuntimeError):
    """A vault call failed; the message says why and what to do, never a value sent."""

    exit_status = ExitStatus.STORE


class VaultUnavailableError(VaultClientError):
    """The vault could not be reached, or stayed unavailable through every retry."""


class VaultRefusedError(VaultClientError):
    """The vault answered with an error (4xx, or a 5xx that is not transient)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.vault_message = message
        super().__init__(f"the vault refused the request (HTTP {status}, {code}): {message}")
