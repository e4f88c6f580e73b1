"""``transfer-key``, ``export`` and ``import``: moving a whole trial between vaults."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_OK, CliError
from vault.transfer.keys import (
    create_transfer_key,
    load_transfer_private_key,
    load_transfer_public_key,
)
from vault.transfer.operations import export_bundle, import_bundle


def transfer_key_create(args: argparse.Namespace, out: TextIO) -> int:
    """Create the key pair a receiving vault is sent trial bundles with."""
    pair = create_transfer_key(Path(args.out))
    print(f"transfer key {pair.key_id} created:", file=out)
    print(f"  {pair.private_key}  (mode 0600: keep it with this vault's keys)", file=out)
    print(f"  {pair.public_key}  (give this one to whoever exports the trial)", file=out)
    return EXIT_OK


def export(args: argparse.Namespace, out: TextIO) -> int:
    """Seal a whole trial into a bundle for another vault."""
    recipient = load_transfer_public_key(Path(args.recipient))
    with context.vault(args) as runtime:
        try:
            exported = export_bundle(runtime, cli_caller(), args.trial, recipient, Path(args.out))
        except FileExistsError as exc:
            raise CliError(str(exc)) from None
    counts = exported.counts
    print(
        f"trial {exported.trial} exported to {args.out}: {counts.sites} sites, "
        f"{counts.subjects} subjects, {counts.mappings} mappings",
        file=out,
    )
    print(f"  sealed to transfer key {exported.recipient_key_id}", file=out)
    print(
        f"  bundle SHA-256 {exported.bundle_sha256} (recorded in this vault's audit log)", file=out
    )
    return EXIT_OK


def import_(args: argparse.Namespace, out: TextIO) -> int:
    """Re-create a trial from a bundle under this vault's keys."""
    private_key = load_transfer_private_key(Path(args.key))
    bundle = Path(args.bundle)
    if not bundle.is_file():
        raise CliError(f"bundle {bundle} does not exist or is not a file")
    with context.vault(args) as runtime:
        imported = import_bundle(runtime, cli_caller(), bundle, private_key)
    counts = imported.counts
    print(
        f"trial {imported.trial} imported: {counts.sites} sites, {counts.subjects} subjects, "
        f"{counts.mappings} mappings, re-encrypted under this vault's keys",
        file=out,
    )
    print(
        f"  bundle SHA-256 {imported.bundle_sha256} (recorded in this vault's audit log)", file=out
    )
    print(
        "  next: give each site an uploader principal and token "
        f"('deid-vault principal create NAME --role site_uploader:{imported.trial}:SITE')",
        file=out,
    )
    return EXIT_OK
