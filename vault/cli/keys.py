"""``keys``: rotate the master key (and rewrap), rotate a trial's data key, re-encrypt."""

from __future__ import annotations

import argparse
from typing import TextIO

from tqdm import tqdm

from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_OK
from vault.crypto import add_master_key_version
from vault.services import keys as key_service


def rotate(args: argparse.Namespace, out: TextIO) -> int:
    """A new master key version and every data key rewrapped, or a trial's new data key."""
    caller = cli_caller()
    if not args.trial:
        settings = context.load_settings()
        # Written before the vault opens, so the opened key ring wraps with the new version.
        version = add_master_key_version(
            settings.key_paths.master, development=settings.development
        )
        print(f"master key version {version} added to {settings.key_paths.master}", file=out)
    with context.vault() as runtime, runtime.transaction() as session:
        if args.trial:
            version = key_service.rotate_data_key(session, runtime, caller, args.trial)
            print(
                f"trial {args.trial} now seals with data key version {version}; "
                f"run 'deid-vault keys reencrypt --trial {args.trial}' to move old rows",
                file=out,
            )
        else:
            count = key_service.rewrap_data_keys(session, runtime, caller)
            print(f"{count} data keys rewrapped under the new master key", file=out)
    return EXIT_OK


def reencrypt(args: argparse.Namespace, out: TextIO) -> int:
    """Move the trial's rows to its newest data key, one transaction per batch."""
    caller = cli_caller()
    with context.vault() as runtime:
        with runtime.transaction() as session:
            progress = key_service.reencrypt_batch(session, runtime, caller, args.trial, 1)
        total = progress.remaining + progress.reencrypted
        with tqdm(total=total, initial=progress.reencrypted, unit="row", disable=args.quiet) as bar:
            while progress.remaining:
                with runtime.transaction() as session:
                    progress = key_service.reencrypt_batch(
                        session, runtime, caller, args.trial, args.batch_size
                    )
                bar.update(progress.reencrypted)
    print(
        f"trial {args.trial}: every row is sealed with data key version {progress.key_version}",
        file=out,
    )
    return EXIT_OK
