"""The re-identification flow run in this process on a vault database (the embedded store).

The vault's own services are called with a given principal, each call in its own
transaction, exactly as the API would call them: the same rules (four eyes,
single-use grants, expiry), the same audit records. Answers are the contract's
shapes (:mod:`deid.contract.reidentification`), and a refusal becomes the same
:class:`~deid.contract.errors.VaultRefusedError` ``deid``'s HTTP client raises.

There is no authentication here: whoever can open the database and its key files
can act as any principal. That is right for the demo and for tests; for staff,
serve the store with ``deid-vault serve`` and use tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from deid.contract.errors import VaultRefusedError
from deid.contract.reidentification import Pseudonym, Release, RequestInfo, SubjectRelease
from vault.authz import Caller
from vault.errors import VaultError
from vault.models import ReidentificationRequest
from vault.runtime import VaultRuntime
from vault.services import reidentification as service
from vault.services.callers import caller_named
from vault.services.reidentification import PseudonymRef

T = TypeVar("T")


def principal_caller(runtime: VaultRuntime, name: str, client_address: str = "local") -> Caller:
    """The caller for the principal called ``name``, with its current roles."""
    with runtime.transaction() as session:
        return caller_named(session, name, client_address)


def _info(session: Session, trial: str, request: ReidentificationRequest) -> RequestInfo:
    names = service.principal_names(session, [request])

    def when(value: object) -> str | None:
        return None if value is None else str(value)

    return RequestInfo(
        id=request.id,
        trial=trial,
        requester=names.get(request.requester_id, "?"),
        purpose=request.purpose,
        justification=request.justification,
        status=request.status,
        subject_ids=tuple(request.subject_ids),
        pseudonyms=tuple(Pseudonym(p["kind"], p["pseudonym"]) for p in request.pseudonyms),
        created_at=str(request.created_at),
        decided_by=names.get(request.decided_by_id) if request.decided_by_id else None,
        decided_at=when(request.decided_at),
        decision_comment=request.decision_comment,
        grant_expires_at=when(request.grant_expires_at),
        released_at=when(request.released_at),
    )


class EmbeddedReidentificationClient:
    """A :class:`~deid.contract.reidentification.ReidentificationClient` acting as ``caller``."""

    def __init__(self, runtime: VaultRuntime, caller: Caller) -> None:
        self._runtime = runtime
        self._caller = caller

    def __repr__(self) -> str:
        return f"EmbeddedReidentificationClient(principal={self._caller.name!r})"

    def _call(self, work: Callable[[Session], T]) -> T:
        try:
            with self._runtime.transaction() as session:
                return work(session)
        except VaultError as exc:
            raise VaultRefusedError(exc.status_code, exc.code, exc.message) from None

    def submit(
        self,
        trial: str,
        purpose: str,
        justification: str,
        pseudonyms: Sequence[Pseudonym],
        subject_ids: Sequence[str],
    ) -> RequestInfo:
        """Ask for re-identification (requester)."""
        refs = [PseudonymRef(p.kind, p.value) for p in pseudonyms]

        def work(session: Session) -> RequestInfo:
            request = service.submit(
                session,
                self._runtime,
                self._caller,
                trial,
                purpose,
                justification,
                refs,
                list(subject_ids),
            )
            return _info(session, trial, request)

        return self._call(work)

    def list_requests(self, trial: str, status: str | None = None) -> list[RequestInfo]:
        """Requests the caller may see, newest first."""

        def work(session: Session) -> list[RequestInfo]:
            rows = service.list_requests(session, self._runtime, self._caller, trial, status)
            return [_info(session, trial, r) for r in rows]

        return self._call(work)

    def get(self, trial: str, request_id: int) -> RequestInfo:
        """One request."""
        return self._call(
            lambda session: _info(
                session,
                trial,
                service.get_request(session, self._runtime, self._caller, trial, request_id),
            )
        )

    def approve(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Approve another principal's pending request."""
        return self._call(
            lambda session: _info(
                session,
                trial,
                service.approve(session, self._runtime, self._caller, trial, request_id, comment),
            )
        )

    def deny(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Deny another principal's pending request."""
        return self._call(
            lambda session: _info(
                session,
                trial,
                service.deny(session, self._runtime, self._caller, trial, request_id, comment),
            )
        )

    def release(self, trial: str, request_id: int) -> Release:
        """Spend the approved grant, once."""

        def work(session: Session) -> Release:
            released = service.release(session, self._runtime, self._caller, trial, request_id)
            return Release(
                _info(session, trial, released.request),
                {Pseudonym(p.kind, p.pseudonym): p.original for p in released.pseudonyms},
                {
                    s.subject_id: SubjectRelease(s.subject_id, s.patient_key, s.date_offset_days)
                    for s in released.subjects
                },
            )

        return self._call(work)

    def close(self) -> None:
        """Nothing to close: the runtime belongs to whoever opened it."""
