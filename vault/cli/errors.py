"""The exit statuses of ``deid-vault``, its one error type, and its one error printer.

Cheap to import (the parser shows the exit status table): nothing here touches the
database or the crypto stack.
"""

from __future__ import annotations

import sys
from typing import TextIO

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2
EXIT_DATABASE_UNREACHABLE = 3
EXIT_CANNOT_LISTEN = 4
EXIT_INTERRUPTED = 130

EXIT_STATUS_HELP = """\
exit status:
  0    done
  1    a check found a problem (db check: the schema is not the newest; audit
       verify: the chain is broken), or a question was answered no; nothing changed
  2    not done: an unusable command line, setting, key file or input file, or
       the vault refused (no such principal or trial, it exists already, ...);
       nothing changed
  3    the database could not be reached; nothing changed; rerun when it is back
  4    serve: cannot listen on --host and --port (in use, not an address of this
       machine, or a port below 1024 without the right to use it)
  130  interrupted (keys reencrypt: rerun to go on where it stopped)
"""
"""The table ``deid-vault --help`` ends with (and the operations guide repeats)."""


class CliError(Exception):
    """Why a command did not do its work: printed as one line, never with a traceback.

    ``exit_status`` is the program's exit status for it (see :data:`EXIT_STATUS_HELP`).
    """

    exit_status = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DatabaseUnreachableError(CliError):
    """The database named by the settings did not answer."""

    exit_status = EXIT_DATABASE_UNREACHABLE


class CannotListenError(CliError):
    """``serve`` cannot listen on the address and port it was given."""

    exit_status = EXIT_CANNOT_LISTEN


class InterruptedByOperatorError(CliError):
    """Ctrl-C (SIGINT)."""

    exit_status = EXIT_INTERRUPTED


def print_error(message: str, stream: TextIO | None = None) -> None:
    """The one way ``deid-vault`` reports an error: one line on standard error."""
    print(f"deid-vault: error: {message}", file=stream or sys.stderr)
