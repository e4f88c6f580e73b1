"""Run one ``deid-vault`` command: parse, find its handler, turn failures into exit statuses."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from vault.cli.errors import EXIT_ERROR, EXIT_OK, print_error
from vault.cli.parser import build_parser

Handler = Callable[[argparse.Namespace, TextIO], int]


def handler_for(spec: str) -> Handler:
    """The function a command names as ``"vault.cli.module:function"``."""
    module, _, name = spec.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; return its exit status (see ``deid-vault --help``)."""
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and bad arguments
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_ERROR
    # Imported only now: --help and --version need none of the database and crypto code.
    from vault.cli.explain import explain

    try:
        return handler_for(args.handler)(args, out)
    except (Exception, KeyboardInterrupt) as exc:
        error = explain(exc)
        if error is None:
            raise
        print_error(error.message)
        return error.exit_status


def run_main() -> None:
    """The ``deid-vault`` console script."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into a program that stopped reading (``deid-vault token list | head``).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = EXIT_OK
    sys.exit(status)
