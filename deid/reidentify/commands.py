"""What ``deid reidentify`` and ``deid requests`` do, once :mod:`deid.reidentify.cli` has
parsed their arguments. Errors are raised, and printed once by :func:`deid.cli.main`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from deid.contract.errors import ExitStatus, UsageError, VaultClientError
from deid.contract.reidentification import RequestInfo
from deid.reidentify.http import HttpReidentificationClient
from deid.reidentify.job import REPORT_NAME, ReidentifyJob, next_steps, reidentify
from deid.vault_client import VaultConnection, read_token_file


def _client(args: argparse.Namespace) -> HttpReidentificationClient:
    """The vault of the command line; an unusable token file, URL or CA bundle is a usage
    error (nothing was asked of the vault)."""
    try:
        token = read_token_file(args.token_file)
        connection = VaultConnection(args.vault, token, ca_bundle=args.ca_bundle)
    except VaultClientError as exc:
        raise UsageError(str(exc)) from None
    return HttpReidentificationClient(connection)


def run_reidentify(args: argparse.Namespace) -> int:
    """``deid reidentify INPUT OUTPUT ...``."""
    job = ReidentifyJob(
        input=args.input,
        output=args.output,
        trial=args.trial,
        purpose=args.purpose,
        justification=args.justification,
        grants=tuple(dict.fromkeys(args.grants)),
        subjects=tuple(dict.fromkeys(args.subjects)),
    )
    client = _client(args)
    try:
        result = reidentify(job, client)
    finally:
        client.close()
    counts = {
        s: sum(1 for f in result.files if f.status == s)
        for s in ("written", "not-written", "skipped")
    }
    print(
        f"{len(result.files)} files: {counts['written']} re-identified, "
        f"{counts['not-written']} not written, {counts['skipped']} skipped"
    )
    for line in next_steps(job, result):
        print(line)
    if counts["written"]:
        print(f"re-identified files: {job.output} (identifiable: handle as patient data)")
    print(f"report:              {job.output / REPORT_NAME}")
    return result.exit_status


def _row(info: RequestInfo) -> tuple[str, ...]:
    return (
        str(info.id),
        info.status,
        info.requester,
        info.purpose,
        ",".join(info.subject_ids) or "-",
        str(len(info.pseudonyms)),
        info.created_at[:19],
        info.decided_by or "-",
    )


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _show(info: RequestInfo) -> None:
    fields = (
        ("request", str(info.id)),
        ("trial", info.trial),
        ("status", info.status),
        ("requester", info.requester),
        ("purpose", info.purpose),
        ("justification", info.justification),
        ("subjects", ", ".join(info.subject_ids) or "-"),
        ("pseudonyms", str(len(info.pseudonyms))),
        ("asked", info.created_at),
        ("decided by", info.decided_by or "-"),
        ("decided", info.decided_at or "-"),
        ("comment", info.decision_comment or "-"),
        ("grant expires", info.grant_expires_at or "-"),
        ("released", info.released_at or "-"),
    )
    for name, value in fields:
        print(f"{name + ':':15} {value}")


def run_requests(args: argparse.Namespace) -> int:
    """``deid requests list|show|approve|deny``."""
    client = _client(args)
    try:
        command = args.requests_command
        if command == "list":
            infos = client.list_requests(args.trial, args.status)
            if not infos:
                print(f"no requests in trial {args.trial} that you may see")
                return ExitStatus.OK
            header = (
                "ID",
                "STATUS",
                "REQUESTER",
                "PURPOSE",
                "SUBJECTS",
                "PSEUDONYMS",
                "ASKED",
                "DECIDED BY",
            )
            _print_table([header, *(_row(i) for i in infos)])
        elif command == "show":
            info = client.get(args.trial, args.request_id)
            if args.json:
                data = asdict(info)
                data["pseudonyms"] = [
                    {"kind": p.kind, "pseudonym": p.value} for p in info.pseudonyms
                ]
                print(json.dumps(data, indent=1))
            else:
                _show(info)
        else:
            decide = client.approve if command == "approve" else client.deny
            info = decide(args.trial, args.request_id, args.comment)
            print(f"request {info.id} {info.status} (requested by {info.requester})")
            if info.status == "approved":
                print(
                    f"the requester can now rerun 'deid reidentify' with --grant {info.id} "
                    f"(the grant expires {info.grant_expires_at}; it can be used once)"
                )
    finally:
        client.close()
    return ExitStatus.OK
