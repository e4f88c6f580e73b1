"""The mapping store of a deployed vault, over HTTP(S): ``deid run --vault URL``.

:class:`HttpStore` speaks the site uploader's part of the vault's API for one trial
and site, through :class:`~deid.vault_client.VaultConnection` (token, TLS, timeouts,
retries). Enrollment and get-or-create are idempotent by the vault's contract (an
existing subject or mapping always wins), so they are retried even when a first
attempt may have reached the vault.

Round trips: the trial information is asked once per store; the engine already
keeps every answer for the rest of the run (one engine per worker), so a repeated
patient or original costs no request, and a file costs one enrollment for a new
patient and one batched get-or-create for its new originals. This store therefore
keeps no cache of its own.

Originals travel only in request bodies to the configured vault; no error raised
here quotes one (the connection reports statuses and the vault's own messages,
which the vault keeps free of originals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deid.contract.errors import VaultClientError, VaultRefusedError
from deid.contract.limits import MAX_BATCH_ITEMS
from deid.contract.store import Enrollment, PseudonymRequest, TrialInfo
from deid.vault_client import DEFAULT_TIMEOUT, VaultConnection, read_token_file


class VaultAnswerError(VaultClientError):
    """The vault answered something this client does not understand."""


class HttpStore:
    """A :class:`~deid.contract.store.MappingStore` backed by a deployed vault."""

    def __init__(
        self,
        connection: VaultConnection,
        trial: str,
        site: str,
        *,
        max_batch_items: int = MAX_BATCH_ITEMS,
    ) -> None:
        if max_batch_items < 1:
            raise ValueError("a batch holds at least one item")
        self._connection = connection
        self._trial = trial
        self._site = site
        self._max_batch_items = max_batch_items
        self._base = f"/v1/trials/{quote(trial, safe='')}/sites/{quote(site, safe='')}"
        self._info: TrialInfo | None = None

    def __repr__(self) -> str:
        return f"HttpStore({self._connection!r}, trial={self._trial!r}, site={self._site!r})"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self._connection.request(method, self._base + path, json=body, idempotent=True)
        except VaultRefusedError as exc:
            hint = self._hint(exc.status)
            if hint is None:
                raise
            raise VaultRefusedError(exc.status, exc.code, f"{exc.vault_message}; {hint}") from None

    def _hint(self, status: int) -> str | None:
        """What to do about a refusal, in words an operator at the site can act on."""
        if status == 401:
            return (
                "the token in the token file is unknown, expired or revoked: "
                "ask the vault's admin for a new one (deid-vault token create)"
            )
        if status in (403, 404):
            return (
                f"the vault has no trial {self._trial!r} with a site {self._site!r} that this "
                "token may upload to: the vault's admin creates the trial and the site "
                "(deid-vault trial create, POST /v1/trials/{trial}/sites) and gives the "
                f"token's principal the role site_uploader:{self._trial}:{self._site}"
            )
        return None  # the vault's own message says enough (a closed trial: 409, 410)

    def trial_info(self) -> TrialInfo:
        """The trial and site, as the vault knows them (asked once)."""
        if self._info is None:
            answer = self._call("GET", "/info")
            try:
                self._info = TrialInfo(
                    trial=str(answer["trial"]),
                    sponsor_name=str(answer["sponsor_name"]),
                    protocol_id=str(answer["protocol_id"]),
                    protocol_name=str(answer["protocol_name"]),
                    site_id=str(answer["site_id"]),
                    site_name=str(answer["site_name"]),
                )
            except (TypeError, KeyError):
                raise self._bad_answer("trial information") from None
        return self._info

    def enroll(self, patient_key: str) -> Enrollment:
        """Find or enroll the patient; the vault makes it atomic across sites and workers."""
        answer = self._call("POST", "/enroll", {"patient_key": patient_key})
        try:
            subject_id = answer["subject_id"]
            offset = answer["date_offset_days"]
            created = answer["created"]
        except (TypeError, KeyError):
            raise self._bad_answer("enrollment") from None
        if not (isinstance(subject_id, str) and subject_id and type(offset) is int):
            raise self._bad_answer("enrollment")
        return Enrollment(subject_id=subject_id, date_offset_days=offset, created=bool(created))

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        """Canonical pseudonyms in order; one request per :data:`MAX_BATCH_ITEMS` items."""
        answers: list[str | None] = []
        for start in range(0, len(items), self._max_batch_items):
            chunk = items[start : start + self._max_batch_items]
            body = {
                "items": [
                    {"kind": i.kind, "original": i.original, "proposal": i.proposal} for i in chunk
                ]
            }
            answer = self._call("POST", "/pseudonyms", body)
            pseudonyms = answer.get("pseudonyms") if isinstance(answer, dict) else None
            if (
                not isinstance(pseudonyms, list)
                or len(pseudonyms) != len(chunk)
                or not all(p is None or (isinstance(p, str) and p) for p in pseudonyms)
            ):
                raise self._bad_answer("pseudonyms")
            answers.extend(pseudonyms)
        return answers

    def close(self) -> None:
        """Close the connection's sockets."""
        self._connection.close()

    def _bad_answer(self, what: str) -> VaultAnswerError:
        return VaultAnswerError(
            f"the vault at {self._connection.base_url} sent an answer for {what} this "
            "client does not understand; check that the URL names a deid vault of a "
            "matching version"
        )


@dataclass(frozen=True)
class VaultTarget:
    """Where a deployed vault is and how to reach it; picklable, holds no secret.

    Each process that opens it reads the token file itself, so the token never
    travels between processes.
    """

    url: str
    token_file: Path
    ca_bundle: Path | None = None
    timeout: float = DEFAULT_TIMEOUT

    def connect(self) -> VaultConnection:
        """A new connection (raises :class:`VaultClientError` for a bad file or URL)."""
        token = read_token_file(self.token_file)
        return VaultConnection(self.url, token, ca_bundle=self.ca_bundle, timeout=self.timeout)

    def open_store(self, trial: str, site: str) -> HttpStore:
        """This process's store for the trial and site."""
        return HttpStore(self.connect(), trial, site)
