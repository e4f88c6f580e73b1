"""Asking a mapping store for pseudonyms until every original has one.

A store refuses a proposal that is already another original's pseudonym of an
identifying kind; :func:`resolve_pseudonyms` proposes again for those, and gives
up (:class:`PseudonymCollisionError`) when a kind's space seems exhausted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from deid.contract.errors import DeidError
from deid.contract.store import MappingStore, PseudonymRequest


class PseudonymCollisionError(DeidError, RuntimeError):
    """Fresh proposals kept colliding: the pseudonym space of a kind is exhausted."""


def resolve_pseudonyms(
    store: MappingStore,
    wanted: Sequence[tuple[str, str]],
    propose: Callable[[str], str],
    max_rounds: int = 8,
) -> dict[tuple[str, str], str]:
    """Map every ``(kind, original)`` to its pseudonym, re-proposing on collisions.

    ``propose(kind)`` returns a new random candidate for that kind. The first round
    sends every item in one batch; later rounds resend only the refused ones.
    """
    pending = list(dict.fromkeys(wanted))
    resolved: dict[tuple[str, str], str] = {}
    for _ in range(max_rounds):
        if not pending:
            return resolved
        requests = [PseudonymRequest(kind, original, propose(kind)) for kind, original in pending]
        answers = store.get_or_create(requests)
        if len(answers) != len(requests):
            raise RuntimeError(
                f"mapping store answered {len(answers)} items for {len(requests)} requested"
            )
        refused: list[tuple[str, str]] = []
        for key, answer in zip(pending, answers, strict=True):
            if answer is None:
                refused.append(key)
            else:
                resolved[key] = answer
        pending = refused
    if pending:
        kinds = sorted({kind for kind, _ in pending})
        raise PseudonymCollisionError(
            f"no free pseudonym found after {max_rounds} proposals for kinds {kinds}"
        )
    return resolved
