"""``audit``: verify and export the audit log (the database and the public key suffice)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vault.audit import verify_chain
from vault.authz import cli_caller
from vault.cli import context
from vault.cli.errors import EXIT_CHECK_FAILED, EXIT_OK, CliError
from vault.cli.output import print_json
from vault.crypto import KeyPaths, load_audit_public_key, load_audit_signing_key
from vault.db import make_session_factory, require_migrated
from vault.repositories.audit import AuditFilter
from vault.services import audit as audit_service


def _signing_key_path() -> Path | None:
    signing = os.environ.get("VAULT_AUDIT_SIGNING_KEY_FILE")
    if signing:
        return Path(signing)
    key_dir = os.environ.get("VAULT_KEY_DIR")
    return KeyPaths.in_directory(Path(key_dir)).audit_signing if key_dir else None


def public_key(args: argparse.Namespace) -> Ed25519PublicKey:
    """``--public-key``; else the ``.pub`` beside the signing key; else the signing key's half."""
    if args.public_key:
        return load_audit_public_key(Path(args.public_key))
    signing = _signing_key_path()
    if signing is None:
        raise CliError("name the audit public key with --public-key (or set VAULT_KEY_DIR)")
    published = KeyPaths(Path(), Path(), signing).audit_public
    if published.exists():
        return load_audit_public_key(published)
    if signing.exists():
        development = os.environ.get("VAULT_ENVIRONMENT", "").lower() == "development"
        key = load_audit_signing_key(signing, development=development).public_key()
        print(
            f"note: verifying with the public half of {signing} ({published} is absent)",
            file=sys.stderr,
        )
        return key
    raise CliError(
        f"neither {published} nor {signing} exists; name the audit public key with --public-key"
    )


def verify(args: argparse.Namespace, out: TextIO) -> int:
    """Recompute the chain and check every checkpoint; exit status 1 when it is broken."""
    with context.database() as engine:
        require_migrated(engine)
        key = public_key(args)
        with make_session_factory(engine, read_only=True)() as session:
            report = verify_chain(session, key)
            if report.ok:
                print(
                    f"audit chain OK: {report.records_checked} records, "
                    f"{report.checkpoints_checked} signed checkpoints verified",
                    file=out,
                )
                return EXIT_OK
            print(
                f"AUDIT CHAIN BROKEN at record {report.first_bad_seq}: {report.problem}", file=out
            )
            for problem in report.checkpoint_problems:
                print(f"  {problem}", file=out)
            if report.first_bad_seq is not None:
                found = audit_service.list_records(
                    session, cli_caller(), AuditFilter(), report.first_bad_seq - 1, 1
                )
                if found and found[0].seq == report.first_bad_seq:
                    print("the first bad record as stored:", file=out)
                    print_json(audit_service.as_dict(found[0]), out)
            return EXIT_CHECK_FAILED


def export(args: argparse.Namespace, out: TextIO) -> int:
    """Every matching record as JSON lines or CSV, to a file or standard output."""
    with context.database() as engine:
        require_migrated(engine)
        f = AuditFilter(trial=args.trial, action=args.action, outcome=args.outcome)
        with make_session_factory(engine, read_only=True)() as session:
            lines = audit_service.export_lines(session, f, args.format)
            if args.output:
                with Path(args.output).open("w", encoding="utf-8", newline="") as target:
                    target.writelines(lines)
            else:
                out.writelines(lines)
    return EXIT_OK
