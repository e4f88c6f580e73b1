"""``deid corpus OUT``: identifiable synthetic files to try ``deid`` on."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from deid.commands.console import progress_wanted
from deid.contract.errors import ExitStatus, UsageError
from deid.corpus import BAD_FILE_KINDS, TRANSFER_SYNTAXES, generate_corpus


def corpus(args: argparse.Namespace) -> int:
    """``deid corpus OUT``: write identifiable synthetic files."""
    names = args.transfer_syntaxes or list(TRANSFER_SYNTAXES)
    unknown = [name for name in names if name not in TRANSFER_SYNTAXES]
    if unknown:
        raise UsageError(
            f"unknown transfer syntax {', '.join(unknown)}; "
            f"choose from {', '.join(TRANSFER_SYNTAXES)}"
        )
    per_study = args.series * args.instances + (0 if args.no_documents else 2)
    total = args.patients * args.studies * per_study
    total += len(BAD_FILE_KINDS) if args.bad_files else 0
    with tqdm(
        total=total,
        unit="file",
        desc="generating",
        disable=not progress_wanted(args),
        file=sys.stderr,
    ) as bar:
        manifest = generate_corpus(
            args.output,
            patients=args.patients,
            studies_per_patient=args.studies,
            series_per_study=args.series,
            instances_per_series=args.instances,
            rows=args.rows,
            cols=args.cols,
            seed=args.seed,
            transfer_syntaxes=[TRANSFER_SYNTAXES[name] for name in names],
            include_documents=not args.no_documents,
            include_bad_files=args.bad_files,
            on_file=bar.update,
        )
    if args.manifest is not None:
        manifest.write(args.manifest)
    print(
        f"wrote {len(manifest.files)} files for {len(manifest.patients)} patients "
        f"to {args.output}"
        + (f"; manifest in {args.manifest}" if args.manifest is not None else "")
    )
    print("these files hold invented but identifiable data: treat them like real exports")
    return ExitStatus.OK
