"""The re-identification flow over HTTPS, through :class:`deid.vault_client.VaultConnection`.

Reads (list, show) are retried like any idempotent call; submitting, deciding and
releasing are not: a release that reached the vault has spent its grant even when
the answer was lost, so a lost answer is reported as such rather than repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from deid.contract.reidentification import Pseudonym, Release, RequestInfo
from deid.vault_client import VaultConnection


class HttpReidentificationClient:
    """A :class:`~deid.contract.reidentification.ReidentificationClient` for a deployed vault."""

    def __init__(self, connection: VaultConnection) -> None:
        self._connection = connection

    def __repr__(self) -> str:
        return f"HttpReidentificationClient({self._connection!r})"

    @staticmethod
    def _path(trial: str, *rest: object) -> str:
        parts = [f"/v1/trials/{quote(trial, safe='')}/reidentifications"]
        parts += [quote(str(part), safe="") for part in rest]
        return "/".join(parts)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._connection.request(method, path, **kwargs)

    def submit(
        self,
        trial: str,
        purpose: str,
        justification: str,
        pseudonyms: Sequence[Pseudonym],
        subject_ids: Sequence[str],
    ) -> RequestInfo:
        """Ask for re-identification (requester)."""
        body = {
            "purpose": purpose,
            "justification": justification,
            "pseudonyms": [{"kind": p.kind, "pseudonym": p.value} for p in pseudonyms],
            "subject_ids": list(subject_ids),
        }
        return RequestInfo.from_json(self._call("POST", self._path(trial), json=body))

    def list_requests(self, trial: str, status: str | None = None) -> list[RequestInfo]:
        """Requests the caller may see, newest first."""
        params = {"status": status} if status else None
        data = self._call("GET", self._path(trial), params=params, idempotent=True)
        return [RequestInfo.from_json(r) for r in data["requests"]]

    def get(self, trial: str, request_id: int) -> RequestInfo:
        """One request."""
        return RequestInfo.from_json(
            self._call("GET", self._path(trial, request_id), idempotent=True)
        )

    def approve(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Approve another principal's pending request."""
        path = self._path(trial, request_id, "approve")
        return RequestInfo.from_json(self._call("POST", path, json={"comment": comment}))

    def deny(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Deny another principal's pending request."""
        path = self._path(trial, request_id, "deny")
        return RequestInfo.from_json(self._call("POST", path, json={"comment": comment}))

    def release(self, trial: str, request_id: int) -> Release:
        """Spend the approved grant, once."""
        return Release.from_json(self._call("POST", self._path(trial, request_id, "release")))

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
