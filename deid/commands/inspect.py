"""``deid inspect FILE``: what happens to each attribute of one file, from the run's own code."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

from deid.commands.rules import rule_settings
from deid.contract.errors import ExitStatus, UsageError
from deid.contract.trial_config import TrialConfig
from deid.dicomfile import read_input
from deid.engine import Engine, InspectRow
from deid.outcome import Quarantined, QuarantineError
from deid.store.memory import MemoryStore


def inspect(args: argparse.Namespace) -> int:
    """``deid inspect FILE``: every attribute's action and resulting value."""
    rules = rule_settings(args)
    try:
        dataset = read_input(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except QuarantineError as exc:
        print(f"{args.file} would be quarantined: {exc.reason}: {exc.message}")
        return ExitStatus.PROBLEMS
    store = MemoryStore(TrialConfig(key=INSPECT_TRIAL), INSPECT_SITE)
    try:
        engine = Engine(rules.build_rules(), store, rules.engine_settings())
        inspection = engine.inspect(dataset)
    finally:
        store.close()
    outcome = inspection.outcome
    if args.json:
        document = {
            "file": str(args.file),
            "outcome": (
                {"quarantined": str(outcome.reason), "message": outcome.message}
                if isinstance(outcome, Quarantined)
                else {"written": True, "subject_id": outcome.subject_id}
            ),
            "elements": [asdict(row) for row in inspection.rows],
        }
        print(json.dumps(document, indent=1))
    else:
        _print_inspection(inspection.rows)
        if isinstance(outcome, Quarantined):
            print(f"\nthe file would be quarantined: {outcome.reason}: {outcome.message}")
        else:
            print(
                "\nthe file would be written; pseudonyms above are examples, a real run "
                "takes them from the trial's mapping store"
            )
    return ExitStatus.PROBLEMS if isinstance(outcome, Quarantined) else ExitStatus.OK


INSPECT_TRIAL = "INSPECT"
INSPECT_SITE = "X"


def _shorten(value: str | None, width: int = 36) -> str:
    if value is None:
        return "-"
    text = value or "''"
    return text if len(text) <= width else text[: width - 3] + "..."


def _print_inspection(rows: Sequence[InspectRow]) -> None:
    table: list[tuple[str, ...]] = [("ELEMENT", "VR", "ACTION", "BEFORE", "AFTER", "WHY")]
    for row in rows:
        action, _, why = row.action.partition(" (")
        table.append(
            (
                row.path,
                row.vr,
                action,
                _shorten(row.original),
                _shorten(row.result),
                why.removesuffix(")"),
            )
        )
    _print_table(table)


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
