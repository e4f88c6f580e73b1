"""``deid reidentify INPUT OUTPUT``: restore a folder of de-identified files, subject by subject.

1. **Scan** every file under INPUT (never changed) for its subject ID and the
   pseudonyms in it (:mod:`deid.reidentify.scan`).
2. **Ask**, one request per subject naming all that subject's pseudonyms, with the
   purpose and justification given (a subject with more pseudonyms than the vault
   takes in one request, :data:`MAX_REQUEST_ITEMS`, gets several, each naming the
   subject). The trial's policy approves at once or leaves
   the request pending for an approver; pending requests are listed with what to
   do next. With ``--grant`` no new request is made: the named, approved grants
   are used (each once).
3. **Release** each approved grant (once: a grant cannot be spent twice) and
   **restore** that subject's files (:mod:`deid.reidentify.restore`) into OUTPUT
   under the same relative paths, each written to a temporary file and renamed.
   A file whose subject was not released, or which holds pseudonyms its grant
   does not cover, is not written; the report says why.
4. **Report** to ``OUTPUT/reidentify-report.json``: per file its status and
   reason, per subject the request, never an original.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from deid.contract.errors import (
    DeidError,
    ExitStatus,
    UsageError,
    VaultClientError,
    VaultRefusedError,
    VaultUnavailableError,
)
from deid.contract.reidentification import (
    Pseudonym,
    ReidentificationClient,
    Release,
    RequestInfo,
    SubjectRelease,
)
from deid.dicomfile import write_dataset
from deid.reidentify.restore import RestoreError, restore_dataset
from deid.reidentify.scan import ScannedFile, read_dataset, scan_file
from deid.writing import (
    input_files,
    is_within,
    remove_stale_temp_files,
    write_atomic,
    write_json_atomic,
)

REPORT_NAME = "reidentify-report.json"
MAX_REQUEST_ITEMS = 4999
"""Pseudonyms per request: the vault takes 5000 items (pseudonyms and subject IDs)."""
BOOKKEEPING = frozenset({"deid-report.json", REPORT_NAME})
"""Files ``deid`` writes beside the DICOM files it writes (and ``.deid/``): not inputs."""
STOPPING_STATUS = frozenset({401, 403, 404, 429})
"""Refusals that hold for every subject alike (who the caller is, which trial): stop."""


class JobError(UsageError):
    """The job cannot start (folders, arguments); the message says what to do."""


@dataclass(frozen=True)
class ReidentifyJob:
    """What to re-identify, and why."""

    input: Path
    output: Path
    trial: str
    purpose: str
    justification: str
    grants: tuple[int, ...] = ()
    subjects: tuple[str, ...] = ()
    """Only these subjects (all subjects in INPUT when empty)."""
    max_request_items: int = MAX_REQUEST_ITEMS


@dataclass
class FileRecord:
    """One input file's outcome (relative paths and pseudonymous IDs only)."""

    input: str
    status: str
    """``written``; ``not-written``: a DICOM file that could not be re-identified (its
    subject was not released, it names no subject, it failed); ``skipped``: not a
    DICOM file, or a subject not asked for (``--subject``)."""
    subject_id: str = ""
    request_ids: list[int] | None = None
    reason: str | None = None
    restored_values: int = 0
    unknown_values: int = 0
    moved_dates: int = 0


@dataclass
class SubjectOutcome:
    """One subject's requests and grants (one request, unless the subject has more
    pseudonyms than one request may name)."""

    subject_id: str
    files: list[ScannedFile]
    request_ids: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    """Per request: ``released``, ``pending``, ``denied``, ``already-used``, ``expired``,
    ``refused``..."""
    reasons: list[str] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list, repr=False)

    @property
    def status(self) -> str:
        """``released`` when every request was; else ``pending`` if one waits; else why not."""
        if not self.states:
            return "not-asked"
        if all(state == "released" for state in self.states):
            return "released"
        if "pending" in self.states:
            return "pending"
        return next(state for state in self.states if state != "released")

    @property
    def reason(self) -> str | None:
        """Why not everything was released, or ``None``."""
        return "; ".join(self.reasons) or None

    def pending_ids(self) -> list[int]:
        """The requests that wait for an approver."""
        return [i for i, s in zip(self.request_ids, self.states, strict=True) if s == "pending"]


@dataclass
class JobResult:
    """What the job did; ``exit_status`` for the command line."""

    files: list[FileRecord] = field(default_factory=list)
    subjects: list[SubjectOutcome] = field(default_factory=list)
    stopped: str | None = None

    @property
    def pending(self) -> list[SubjectOutcome]:
        """Subjects with a request that waits for an approver."""
        return [s for s in self.subjects if s.pending_ids()]

    @property
    def exit_status(self) -> int:
        """3 stopped by the vault, 4 requests pending, 1 files not written, else 0."""
        if self.stopped:
            return ExitStatus.STORE
        if self.pending:
            return ExitStatus.PENDING
        if any(f.status == "not-written" for f in self.files):
            return ExitStatus.PROBLEMS
        return ExitStatus.OK


class _StopError(DeidError):
    """The vault refused or failed in a way that holds for every subject."""

    exit_status = ExitStatus.STORE


def check_folders(job: ReidentifyJob) -> None:
    """Refuse folders that would mix inputs and outputs."""
    if not job.input.exists():
        raise JobError(f"INPUT {job.input} does not exist")
    source, target = job.input.resolve(), job.output.resolve()
    if is_within(target, source) or is_within(source, target):
        raise JobError(
            f"OUTPUT {job.output} and INPUT {job.input} overlap; write re-identified files "
            "to a folder of their own"
        )
    if target.exists() and not target.is_dir():
        raise JobError(f"OUTPUT {job.output} exists and is not a folder")


def _vault_reason(exc: VaultClientError) -> str:
    if isinstance(exc, VaultRefusedError):
        return f"the vault refused: {exc.vault_message} (HTTP {exc.status}, {exc.code})"
    return str(exc)


class _Run:
    def __init__(
        self, job: ReidentifyJob, client: ReidentificationClient, say: Callable[[str], None]
    ) -> None:
        self.job = job
        self.client = client
        self.say = say
        self.result = JobResult()

    # -- scanning -------------------------------------------------------------

    def scan(self) -> dict[str, list[ScannedFile]]:
        by_subject: dict[str, list[ScannedFile]] = defaultdict(list)
        wanted = set(self.job.subjects)
        for path, relative in input_files(self.job.input):
            parts = relative.split("/")
            if parts[-1] in BOOKKEEPING or ".deid" in parts[:-1]:
                continue
            scanned = scan_file(path, relative)
            if scanned.problem is not None:
                self._file(scanned, scanned.problem_status, reason=scanned.problem)
            elif wanted and scanned.subject_id not in wanted:
                self._file(scanned, "skipped", reason="its subject was not asked for (--subject)")
            else:
                by_subject[scanned.subject_id].append(scanned)
        for missing in sorted(wanted - set(by_subject)):
            self.say(f"subject {missing}: no file of this subject under INPUT")
        return dict(sorted(by_subject.items()))

    def _file(self, scanned: ScannedFile, status: str, **values: object) -> FileRecord:
        record = FileRecord(scanned.relative, status, scanned.subject_id, **values)  # type: ignore[arg-type]
        self.result.files.append(record)
        return record

    # -- asking ---------------------------------------------------------------

    def ask(self, outcome: SubjectOutcome) -> None:
        pseudonyms = sorted({p for f in outcome.files for p in f.pseudonyms})
        size = max(1, self.job.max_request_items)
        chunks = [pseudonyms[i : i + size] for i in range(0, len(pseudonyms), size)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            part = f" (part {number} of {len(chunks)})" if len(chunks) > 1 else ""
            try:
                info = self.client.submit(
                    self.job.trial,
                    self.job.purpose,
                    self.job.justification,
                    chunk,
                    [outcome.subject_id],
                )
            except VaultRefusedError as exc:
                if exc.status in STOPPING_STATUS:
                    raise _StopError(_vault_reason(exc)) from None
                outcome.states.append("refused")
                outcome.reasons.append(_vault_reason(exc))
                self.say(f"subject {outcome.subject_id}{part}: {_vault_reason(exc)}")
                continue
            except VaultUnavailableError as exc:
                raise _StopError(
                    f"{exc}; before rerunning, list your requests (deid requests list) to see "
                    "whether this one was recorded"
                ) from None
            self.say(
                f"subject {outcome.subject_id}{part}: request {info.id} submitted "
                f"({len(chunk)} pseudonyms, {len(outcome.files)} files): {info.status}"
            )
            self._follow([outcome], info, announce_pending=False)

    def use_grants(self, outcomes: dict[str, SubjectOutcome]) -> None:
        granted: list[tuple[RequestInfo, list[SubjectOutcome]]] = []
        for grant in self.job.grants:
            try:
                info = self.client.get(self.job.trial, grant)
            except VaultRefusedError as exc:
                if exc.status in STOPPING_STATUS - {404}:
                    raise _StopError(_vault_reason(exc)) from None
                self.say(f"grant {grant}: {_vault_reason(exc)}")
                continue
            except VaultUnavailableError as exc:
                raise _StopError(str(exc)) from None
            covered = [outcomes[s] for s in info.subject_ids if s in outcomes]
            if not covered:
                self.say(f"grant {grant}: none of its subjects has files under INPUT; not used")
                continue
            granted.append((info, covered))
        # A grant is spent only when its subjects' other requests are approved too:
        # half a subject cannot be restored, and a spent grant cannot be used again.
        waiting = {
            o.subject_id for info, covered in granted if info.status == "pending" for o in covered
        }
        for info, covered in granted:
            if info.status == "approved" and any(o.subject_id in waiting for o in covered):
                reason = (
                    f"request {info.id} is approved and kept unspent until the subject's "
                    "other requests are approved too"
                )
                self.say(f"subject {', '.join(o.subject_id for o in covered)}: {reason}")
                for outcome in covered:
                    outcome.request_ids.append(info.id)
                    outcome.states.append("held")
                    outcome.reasons.append(reason)
                continue
            self._follow(covered, info)
        for outcome in outcomes.values():
            if not outcome.request_ids:
                outcome.states.append("no-grant")
                outcome.reasons.append(
                    "no --grant names this subject; rerun without --grant to ask for it"
                )

    def _follow(
        self, outcomes: list[SubjectOutcome], info: RequestInfo, *, announce_pending: bool = True
    ) -> None:
        """Release an approved request for its subjects; note why any other cannot be."""
        state, reason = self._release(info)
        who = ", ".join(o.subject_id for o in outcomes)
        if state != "pending" or announce_pending:
            self.say(
                f"subject {who}: {f'request {info.id} released' if state == 'released' else reason}"
            )
        for outcome in outcomes:
            outcome.request_ids.append(info.id)
            outcome.states.append(state)
            if isinstance(reason, Release):
                outcome.releases.append(reason)
            else:
                outcome.reasons.append(reason)

    def _release(self, info: RequestInfo) -> tuple[str, Release | str]:
        """Spend ``info``'s grant if it is approved: (state, the release or why not)."""
        if info.status == "pending":
            return "pending", f"request {info.id} waits for approval"
        if info.status != "approved":
            state = "already-used" if info.status == "released" else info.status
            comment = f" ({info.decision_comment})" if info.decision_comment else ""
            return state, {
                "denied": f"request {info.id} was denied{comment}",
                "already-used": f"request {info.id} was already used; a grant is used once: "
                "rerun without --grant to ask again",
                "expired": f"the grant of request {info.id} has expired; rerun without "
                "--grant to ask again",
            }.get(state, f"request {info.id} is {info.status}")
        try:
            release = self.client.release(self.job.trial, info.id)
        except VaultRefusedError as exc:
            if exc.status in (401, 403, 429):
                raise _StopError(_vault_reason(exc)) from None
            return "refused", _vault_reason(exc)
        except VaultUnavailableError as exc:
            raise _StopError(
                f"{exc}; the grant of request {info.id} may have been used: if so, ask again"
            ) from None
        return "released", release

    # -- writing --------------------------------------------------------------

    def restore(self, outcome: SubjectOutcome) -> None:
        originals: dict[Pseudonym, str | None] = {}
        asked: set[Pseudonym] = set()
        subject = None
        for release in outcome.releases:
            originals.update(release.originals)
            asked.update(release.request.pseudonyms)
            subject = subject or release.subjects.get(outcome.subject_id)
        for scanned in outcome.files:
            self._restore_file(scanned, outcome, subject, originals, asked)

    def _restore_file(
        self,
        scanned: ScannedFile,
        outcome: SubjectOutcome,
        subject: SubjectRelease | None,
        originals: dict[Pseudonym, str | None],
        asked: set[Pseudonym],
    ) -> None:
        ids = list(outcome.request_ids) or None

        def refuse(reason: str) -> None:
            self._file(scanned, "not-written", request_ids=ids, reason=reason)

        if not outcome.releases:
            refuse(outcome.reason or "its subject was not released")
            return
        if subject is None or subject.patient_key is None:
            refuse(f"the vault knows no subject {outcome.subject_id} in trial {self.job.trial}")
            return
        if not scanned.pseudonyms <= asked:
            refuse(
                f"it holds {len(scanned.pseudonyms - asked)} pseudonyms no released request "
                f"named ({outcome.reason or 'files added since the request?'}); rerun "
                "without --grant to ask for them"
            )
            return
        try:
            dataset = read_dataset(scanned.path)
            restored = restore_dataset(dataset, subject, originals)
            write_atomic(
                self.job.output / scanned.relative,
                lambda handle: write_dataset(dataset, handle),  # type: ignore[arg-type]
            )
        except RestoreError as exc:
            refuse(str(exc))
            return
        except OSError as exc:
            refuse(f"cannot be written ({type(exc).__name__}: {exc.strerror or 'error'})")
            return
        except (ValueError, TypeError, KeyError) as exc:
            refuse(f"cannot be restored ({type(exc).__name__})")
            return
        self._file(
            scanned,
            "written",
            request_ids=ids,
            restored_values=restored.values,
            unknown_values=restored.kept,
            moved_dates=restored.dates,
        )

    def report(self) -> dict[str, object]:
        files = self.result.files
        counts: dict[str, int] = defaultdict(int)
        for record in files:
            counts[record.status] += 1
        return {
            "report_version": 1,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "trial": self.job.trial,
            "purpose": self.job.purpose,
            "stopped": self.result.stopped,
            "summary": {
                "files": len(files),
                **{k: counts[k] for k in ("written", "not-written", "skipped")},
            },
            "subjects": [
                {
                    "subject_id": s.subject_id,
                    "request_ids": s.request_ids,
                    "status": s.status,
                    "reason": s.reason,
                    "files": len(s.files),
                }
                for s in self.result.subjects
            ],
            "files": [_file_entry(record) for record in sorted(files, key=lambda r: r.input)],
        }


def _file_entry(record: FileRecord) -> dict[str, object]:
    entry = {k: v for k, v in vars(record).items() if v is not None}
    if record.status != "written":
        for count in ("restored_values", "unknown_values", "moved_dates"):
            del entry[count]
    return entry


def reidentify(
    job: ReidentifyJob,
    client: ReidentificationClient,
    say: Callable[[str], None] = print,
) -> JobResult:
    """Run ``job`` against ``client``; see the module docstring. Never says an original."""
    check_folders(job)
    if job.output.is_dir():
        remove_stale_temp_files(job.output)  # left by an interrupted run
    run = _Run(job, client, say)
    by_subject = run.scan()
    outcomes = {s: SubjectOutcome(s, files) for s, files in by_subject.items()}
    run.result.subjects = list(outcomes.values())
    try:
        if job.grants:
            run.use_grants(outcomes)
        else:
            for outcome in outcomes.values():
                run.ask(outcome)
    except _StopError as exc:
        run.result.stopped = str(exc)
        say(f"stopped: {exc}")
        for outcome in outcomes.values():
            if not outcome.states:
                outcome.reasons.append("not asked: the vault stopped the run")
    for outcome in outcomes.values():
        run.restore(outcome)
    job.output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(job.output / REPORT_NAME, run.report())
    return run.result


def next_steps(job: ReidentifyJob, result: JobResult) -> list[str]:
    """What to tell the user to do about pending requests."""
    pending = [i for s in result.pending for i in s.pending_ids()]
    if not pending:
        return []
    ids = ", ".join(str(i) for i in pending)
    grants = " ".join(f"--grant {i}" for i in pending)
    return [
        f"{len(pending)} request(s) wait for approval by an approver of trial {job.trial}: {ids}.",
        "Next: ask an approver (not yourself) to review and approve them, e.g.",
        f"  deid requests approve {pending[0]} --trial {job.trial} --vault URL --token-file "
        "APPROVER-TOKEN",
        f"then rerun the same command with: {grants}",
    ]
