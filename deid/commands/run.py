"""``deid run INPUT OUTPUT``: the order in which a run starts.

The embedded vault's store process (:class:`~deid.store.served.StoreServer`) is
started before anything else, so that it loads the vault (SQLAlchemy, Alembic) on
another core while this process loads the engine (pydicom, Faker, the rules) for
the checks and the workers: the two start-ups overlap instead of adding up. It
opens nothing until the command line has been checked, so a refused command
changes nothing. Everything else is :mod:`deid.commands.deidentify`.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from deid.store.served import StoreServer


def run(args: argparse.Namespace) -> int:
    """``deid run INPUT OUTPUT``: de-identify a folder; print the summary."""
    with ExitStack() as stack:
        server = None
        if args.vault is None and not args.anonymize:
            server = stack.enter_context(StoreServer(load_vault=True))
        # Only now: the engine's modules, loaded while the store process loads the vault.
        from deid.commands.deidentify import run_checked

        return run_checked(args, server)
