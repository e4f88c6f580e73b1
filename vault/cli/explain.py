"""What the layers below the command line raise on purpose, as the operator reads it.

Every error a command can meet through bad input or a bad setting becomes a
:class:`~vault.cli.errors.CliError` here, in one place; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from deid.contract.subject_ids import SubjectIdTemplateError
from deid.contract.trial_config import TrialConfigError
from vault.cli.errors import CliError, DatabaseUnreachableError, InterruptedByOperatorError
from vault.crypto import KeyFileError
from vault.db import DatabaseNotMigratedError
from vault.errors import VaultError


def _settings_problems(exc: ValidationError) -> str:
    """Each problem with the ``VAULT_*`` variable it is about (a rule across several: alone)."""
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        name = "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"VAULT_{name}: {message}" if name else message)
    return "; ".join(problems)


def explain(exc: BaseException) -> CliError | None:
    """``exc`` as a :class:`CliError`, or None when it is not the operator's to fix."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return InterruptedByOperatorError("interrupted")
    if isinstance(exc, VaultError):
        return CliError(exc.message)
    if isinstance(exc, KeyFileError | DatabaseNotMigratedError | TrialConfigError):
        return CliError(str(exc))
    if isinstance(exc, SubjectIdTemplateError):
        return CliError(f"the trial configuration's subject ID template: {exc}")
    if isinstance(exc, ValidationError):
        return CliError(f"the vault's settings are not usable: {_settings_problems(exc)}")
    if isinstance(exc, OperationalError):
        # The driver's own text may quote the URL (and a password in it): name its type only.
        return DatabaseUnreachableError(
            f"cannot reach the database ({type(exc.orig).__name__}); check "
            "VAULT_DATABASE_URL (or --database-url) and that the database server is running"
        )
    if isinstance(exc, OSError) and exc.filename is not None:
        return CliError(f"{exc.filename}: {exc.strerror or exc}")
    return None
