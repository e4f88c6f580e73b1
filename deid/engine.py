"""The engine: one DICOM file in, a de-identified dataset or a quarantine out.

Per file, in this order and each once (DESIGN.md's pipeline, after *read*):

1. **plan**: one :class:`~deid.actions.Action` per element at any depth, the file
   meta included, from the rules, through the one walker (:mod:`deid.walk`);
   sequences the rules keep (K, U), clean (C) or replace with a dummy (D) are
   walked into and their items planned element by element, what sits inside a C
   or D sequence adjusted by :class:`~deid.profiles.sequences.SequenceRules`.
   Payloads that cannot be cleaned (encapsulated documents, burned-in
   annotation) are refused here unless the settings accept them.
2. **map**: the handlers name every original that needs a pseudonym; the patient
   is enrolled (subject ID, date offset) and the mapping store answers every
   pseudonym in one batch (one batch for several files: :meth:`Engine.prepare`,
   :meth:`Engine.resolve`, :meth:`Engine.finish`). The identifying originals become
   the guard's needles.
3. **apply**: the handlers write the new values; orphaned private creators go, and
   so does an instance index (Common Instance Reference) left without references;
   birth dates and ages are capped; the trial attributes and the de-identification
   markers are written, then the recipe's ADDs; the file meta follows the new
   instance and the preamble is zeroed.
4. **guard**: the result is scanned for the needles (:mod:`deid.guard`); a hit
   quarantines the file.

Writing is the caller's (:func:`deid.dicomfile.write_dataset`, atomically by the
runner). Nothing here logs or raises a value from the file: quarantine messages
name attributes and kinds only.

The patient key, by which a patient is enrolled: ``id:<Issuer of Patient ID>|<Patient
ID>`` when the file has a Patient ID, else ``name:<Patient's Name>|<Patient's Birth
Date>``, else ``study:<Study Instance UID>`` (one subject per study: without any
identity, two studies of one patient cannot be linked), else the file is
quarantined.
"""

from __future__ import annotations

import struct
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydicom.charset import convert_encodings
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.values import convert_SQ

from deid.actions import Action, Code, ElementContext
from deid.contract.limits import MAX_ORIGINAL_LENGTH
from deid.contract.store import MappingStore
from deid.dicomfile import read_input
from deid.guard import Guard
from deid.handlers import (
    SEQUENCE_KEEPING,
    FileState,
    Handler,
    NotApplicableError,
    Step,
    handler_for,
)
from deid.handlers.dates import AGE, SHIFT, cap_birth_date_of
from deid.handlers.fixed import convert_text
from deid.handlers.pixels import PixelMask, apply_masks, masks_for
from deid.handlers.private import drop_orphan_creators
from deid.handlers.references import drop_stale_instance_index
from deid.handlers.text import SCRUB
from deid.handlers.trial import Markers, MethodCodeItem, TrialWriter, finish_file_meta
from deid.identifiers import IdentifierKind, Identifiers, kind_of
from deid.outcome import Deidentified, Outcome, Quarantined, QuarantineError, QuarantineReason
from deid.profiles import Option, Rules
from deid.profiles.sequences import SequenceRules
from deid.pseudo import get_class
from deid.store.cache import StoreMemory
from deid.store.resolve import PseudonymCollisionError
from deid.uids import UID_KIND, propose_uid
from deid.walk import Visit, element_text, format_path, value_text, walk

ENCAPSULATED_DOCUMENT = 0x00420011
BURNED_IN_ANNOTATION = 0x00280301
OTHER_PATIENT_IDS_SEQUENCE = 0x00101002
PATIENT_ID = 0x00100020
_TRIAL_GROUP = 0x0012
_FREE_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_DECODING_ERRORS = (
    ValueError,
    TypeError,
    NotImplementedError,
    OverflowError,
    UnicodeError,
    EOFError,
    struct.error,
    RecursionError,
)
"""What pydicom raises for values it cannot decode; the file is quarantined."""
_PSEUDO_KINDS = {
    "FULL_NAME": IdentifierKind.PERSON_NAME,
    "GIVEN_NAME": IdentifierKind.PERSON_NAME,
    "SURNAME": IdentifierKind.PERSON_NAME,
    "LOCATION": IdentifierKind.ADDRESS,
    "LOCATION_CA": IdentifierKind.ADDRESS,
    "LOCATION_BC": IdentifierKind.ADDRESS,
    "PHONE": IdentifierKind.PHONE,
    "HEALTH_INSTITUTION": IdentifierKind.INSTITUTION,
    "HEALTH_INSTITUTION_CA": IdentifierKind.INSTITUTION,
}
"""The identifier kind of an original a PSEUDO class replaces (IDs otherwise)."""


class PayloadPolicy(StrEnum):
    """What to do with a payload whose content cannot be cleaned."""

    QUARANTINE = "quarantine"
    """Refuse the file (the default)."""
    ACCEPT = "accept"
    """Write it: the user takes responsibility, and the output and report say so."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine behaviour a run may change (the rules decide everything else).

    ``burned_in_annotation``: Burned In Annotation = YES and no pixel mask for the
    image; by default quarantined, since the pixels may show the name. ``ACCEPT``
    writes the file and records "burned-in annotation accepted" in De-identification
    Method.

    ``encapsulated_documents``: an Encapsulated Document (PDF, CDA, STL...) cannot
    be cleaned; by default quarantined. ``ACCEPT`` keeps the document as it is (not
    scanned by the guard) and records it in De-identification Method.
    """

    burned_in_annotation: PayloadPolicy = PayloadPolicy.QUARANTINE
    encapsulated_documents: PayloadPolicy = PayloadPolicy.QUARANTINE
    pixel_masks: tuple[PixelMask, ...] = ()
    """Rectangles blanked in the uncompressed pixel data of the images they match
    (:class:`deid.handlers.pixels.PixelMask`); a matching image's burned-in
    annotation counts as cleaned (Clean Pixel Data Option, 113101)."""


@dataclass(frozen=True, slots=True)
class InspectRow:
    """One element in ``deid inspect``: what the real run would do with it."""

    path: str
    keyword: str
    vr: str
    action: str
    """:meth:`Action.describe` (``"engine: ..."`` for what the engine adds)."""
    original: str | None
    """The value before (``None`` for an element the engine adds)."""
    result: str | None
    """The value after (``None`` when removed)."""


@dataclass(frozen=True, slots=True)
class Inspection:
    """Every element's row, and the outcome the real run would have."""

    rows: tuple[InspectRow, ...]
    outcome: Outcome


@dataclass(slots=True)
class _Payloads:
    masks: list[PixelMask]
    accepted: list[str]
    skip: set[int]
    refused: QuarantineError | None


@dataclass(frozen=True, slots=True)
class _Scope:
    """What the items of a C or D sequence are: cleaned, the dummy, or dropped."""

    kind: str
    dummy_path: tuple[int, ...] = ()
    """For the dummy item: the dummy sequences from the outermost one to its own."""
    keyword: str = ""


_CLEANED = _Scope("cleaned")
_DROPPED = _Scope("dropped")


@dataclass(slots=True)
class _Plan:
    steps: list[Step] = field(default_factory=list)
    work: list[tuple[Step, Handler]] = field(default_factory=list)
    kept_text: list[Step] = field(default_factory=list)
    identifying: list[tuple[Step, IdentifierKind]] = field(default_factory=list)
    creators: list[tuple[Dataset, int]] = field(default_factory=list)
    other_ids: list[Step] = field(default_factory=list)
    """Other Patient IDs Sequences that go: their IDs are the patient's, so needles."""
    codes: list[Code] = field(default_factory=list)
    unreviewed_text: int = 0

    def tally(self) -> Counter[str]:
        """How many elements got each action, by code name."""
        return Counter({code.name: count for code, count in Counter(self.codes).items()})


@dataclass(slots=True)
class Prepared:
    """A file planned and collected, waiting for the mapping store's answers.

    Files are prepared one by one, their pseudonyms resolved together
    (:meth:`Engine.resolve`: one store transaction or round trip for many files),
    then finished one by one (:meth:`Engine.finish`).
    """

    dataset: FileDataset
    plan: _Plan
    state: FileState
    payloads: _Payloads
    originals: list[str | None] | None = None
    """The values before, for ``deid inspect`` only."""


class Engine:
    """Carries out the rules on one file at a time; one engine serves a whole run.

    Not thread-safe (it remembers the store's answers): one engine per worker.
    """

    def __init__(
        self, rules: Rules, store: MappingStore, settings: EngineSettings | None = None
    ) -> None:
        self.rules = rules
        self.store = store
        self.settings = settings or EngineSettings()
        self.trial = store.trial_info()
        self.markers = _markers(rules)
        self._trial_writer = TrialWriter(self.trial, self.markers)
        self._moves_text_dates = Option.RETAIN_LONG_FULL_DATES not in rules.options
        self.memory = StoreMemory()
        """What the store answered before, for the next files of the run."""
        self._handlers: dict[
            tuple[int, str, str], tuple[Action, Handler | None, IdentifierKind | None]
        ] = {}

    def process(self, path: str | Path) -> Outcome:
        """Read ``path`` (never modified) and de-identify it."""
        prepared = self.prepare(path)
        if isinstance(prepared, Quarantined):
            return prepared
        (resolved,) = self.resolve([prepared])
        return resolved if isinstance(resolved, Quarantined) else self.finish(resolved)

    def prepare(self, path: str | Path) -> Prepared | Quarantined:
        """Read ``path`` (never modified), plan it and collect what it needs from the
        store; errors of the store are raised (see :meth:`deidentify`)."""
        try:
            dataset = read_input(path)
            with _quiet():
                return self._prepare(dataset, inspecting=False)
        except QuarantineError as exc:
            return Quarantined(exc.reason, exc.message)

    def resolve(self, files: list[Prepared]) -> list[Prepared | Quarantined]:
        """Answer the pseudonyms of all ``files`` with one store request; a file whose
        pseudonyms cannot be found a free value is quarantined."""
        try:
            self._resolve(files)
        except QuarantineError as exc:
            if len(files) == 1:
                return [Quarantined(exc.reason, exc.message)]
            # Which file's pseudonyms ran out? Each alone, so the others still go.
            return [answer for file in files for answer in self.resolve([file])]
        return list(files)

    def finish(self, file: Prepared) -> Outcome:
        """Apply and guard a resolved file: the result to write, or why not."""
        try:
            with _quiet():
                return self._finish(file, None)
        except QuarantineError as exc:
            return Quarantined(exc.reason, exc.message)

    def deidentify(self, dataset: FileDataset) -> Outcome:
        """De-identify ``dataset`` in place; the result to write, or why not.

        Errors of the mapping store (a vault that cannot be reached) are raised:
        they stop the run, they are not the file's fault.
        """
        try:
            with _quiet():
                return self._run(dataset, None)
        except QuarantineError as exc:
            return Quarantined(exc.reason, exc.message)

    def inspect(self, dataset: FileDataset) -> Inspection:
        """What :meth:`deidentify` does to each element, from the same code.

        Run it with a throwaway store (:class:`~deid.store.memory.MemoryStore`): the
        pseudonyms it shows are real proposals, kept nowhere. A payload that would
        be quarantined is still shown element by element.
        """
        rows: list[InspectRow] = []
        try:
            with _quiet():
                outcome = self._run(dataset, rows)
        except QuarantineError as exc:
            outcome = Quarantined(exc.reason, exc.message)
        return Inspection(tuple(rows), outcome)

    # -- the steps ---------------------------------------------------------------

    def _run(self, dataset: FileDataset, trace: list[InspectRow] | None) -> Outcome:
        file = self._prepare(dataset, inspecting=trace is not None)
        self._resolve([file])
        return self._finish(file, trace)

    def _prepare(self, dataset: FileDataset, inspecting: bool) -> Prepared:
        payloads = self._payloads(dataset)
        if payloads.refused is not None and not inspecting:
            raise payloads.refused
        plan = self._plan(dataset)
        originals = _originals(plan.steps) if inspecting else None
        state = self._collect(dataset, plan)
        return Prepared(dataset, plan, state, payloads, originals)

    def _finish(self, file: Prepared, trace: list[InspectRow] | None) -> Outcome:
        dataset, plan, state, payloads = file.dataset, file.plan, file.state, file.payloads
        accepted, skip, refused = payloads.accepted, payloads.skip, payloads.refused
        self._apply(dataset, plan, state, payloads)
        if trace is not None:
            trace.extend(_rows(dataset, plan.steps, file.originals or []))
        if refused is not None:
            raise refused
        guard = Guard(state.identifiers, skip, moved_dates=state.moved_dates)
        hit = guard.scan(dataset, dataset.file_meta, dataset.preamble)
        if hit is not None:
            raise QuarantineError(QuarantineReason.IDENTIFIER_LEFT, hit.message())
        return Deidentified(
            dataset=dataset,
            subject_id=state.enrollment.subject_id,
            study_uid=element_text(dataset, 0x0020000D),
            series_uid=element_text(dataset, 0x0020000E),
            instance_uid=element_text(dataset, 0x00080018),
            modality=element_text(dataset, 0x00080060) or "OT",
            enrolled=state.enrollment.created,
            actions=plan.tally(),
            unreviewed_text=plan.unreviewed_text,
            accepted=tuple(accepted),
        )

    def _payloads(self, dataset: FileDataset) -> _Payloads:
        """Payloads that cannot be cleaned: masks that clean them, accepted facts, guard
        skips, or a refusal."""
        masks = masks_for(dataset, self.settings.pixel_masks)
        accepted: list[str] = []
        skip: set[int] = set()
        refused: QuarantineError | None = None
        if ENCAPSULATED_DOCUMENT in dataset:
            if self.settings.encapsulated_documents is PayloadPolicy.ACCEPT:
                accepted.append("encapsulated document kept as the user's responsibility")
                skip.add(ENCAPSULATED_DOCUMENT)
            else:
                refused = QuarantineError(
                    QuarantineReason.ENCAPSULATED_DOCUMENT,
                    "the file holds an encapsulated document (PDF, CDA...) whose content "
                    "cannot be cleaned; accept such documents explicitly to write them",
                )
        if element_text(dataset, BURNED_IN_ANNOTATION).upper() == "YES" and not masks:
            if self.settings.burned_in_annotation is PayloadPolicy.ACCEPT:
                accepted.append("burned-in annotation accepted as the user's responsibility")
            elif refused is None:
                refused = QuarantineError(
                    QuarantineReason.BURNED_IN_ANNOTATION,
                    "Burned In Annotation is YES and no pixel rule masks the text; "
                    "accept burned-in annotation explicitly to write such files",
                )
        return _Payloads(masks, accepted, skip, refused)

    def _plan(self, dataset: FileDataset) -> _Plan:
        plan = _Plan()
        rules, sop_class = self.rules, element_text(dataset, 0x00080016)
        codec = _codec(dataset)
        nested_charset = False
        accept_documents = self.settings.encapsulated_documents is PayloadPolicy.ACCEPT

        action_for, known_action, handlers = rules.action_for, rules.known_action, self._handlers
        steps, work, codes = plan.steps, plan.work, plan.codes
        sequences = rules.sequences
        scopes: dict[int, _Scope] = {}
        """Items of C and D sequences (by id) -> what they are."""

        # Called for every element of every file: kept lean on purpose.
        def visit(found: Visit) -> bool:
            tag, vr, path = found.tag, found.vr, found.path
            action = known_action(tag, vr, found.private_creator)
            if action is None:
                parents = tuple(t for t, _ in path) if path else ()
                context = ElementContext(
                    tag, vr, found.keyword, found.private_creator, parents, sop_class
                )
                action = action_for(context)
            scope = scopes.get(id(found.dataset)) if path and scopes else None
            if scope is not None:
                action = _in_scope(sequences, scope, action, found)
            if tag == ENCAPSULATED_DOCUMENT and accept_documents and not path:
                action = _ACCEPTED_DOCUMENT
            elif tag == 0x00080005 and path:
                nonlocal nested_charset
                nested_charset = True
            step = Step(found, action, codec)
            steps.append(step)
            code = action.code
            codes.append(code)
            if code is Code.KEEP:
                if vr in _FREE_TEXT_VRS:
                    plan.kept_text.append(step)
                elif vr == "AS":
                    work.append((step, AGE))
            else:
                # Handlers depend on the action, the VR and the keyword; actions are
                # shared objects of the rules' cache, so their identity keys this one.
                key = (id(action), vr, found.keyword)
                known = handlers.get(key)
                if known is None or known[0] is not action:
                    known = (action, _handler(action, found), identifier_kind(action, found))
                    handlers[key] = known
                if known[1] is not None:
                    work.append((step, known[1]))
                if known[2] is not None:
                    plan.identifying.append((step, known[2]))
            if tag & 0x10000 and 0x10 <= tag & 0xFFFF <= 0xFF:
                plan.creators.append((found.dataset, tag))
            elif tag == OTHER_PATIENT_IDS_SEQUENCE and code is not Code.KEEP:
                plan.other_ids.append(step)
            if vr != "SQ" or code not in SEQUENCE_KEEPING:
                return False
            if code is Code.DUMMY or code is Code.CLEAN or scope is _CLEANED:
                _enter(scopes, scope, found, code)
            return True

        try:
            if dataset.file_meta is not None:
                walk(dataset.file_meta, visit)
            walk(dataset, visit)
        except _DECODING_ERRORS as exc:
            raise _malformed(exc) from None
        if nested_charset:  # an item with its own character set: let pydicom decode
            for step in plan.steps:
                step.codec = None
        plan.unreviewed_text = sum(1 for step in steps if step.action.unreviewed_text)
        return plan

    def _collect(self, dataset: FileDataset, plan: _Plan) -> FileState:
        key = patient_key(dataset)
        if len(key) > MAX_ORIGINAL_LENGTH:
            raise _too_long("the patient's identity (Patient ID or Patient's Name)")
        enrollment = self.memory.enroll(self.store, key)
        date_shift = timedelta(days=enrollment.date_offset_days)
        state = FileState(
            enrollment=enrollment,
            date_shift=date_shift,
            identifiers=Identifiers(encodings=_encodings(dataset)),
            text_date_shift=date_shift if self._moves_text_dates else None,
        )
        current: Step | None = None
        try:
            for current, kind in plan.identifying:
                state.identifiers.add(kind, current.text())
            for current in plan.other_ids:
                for item in _items_of(current, state.identifiers.encodings):
                    state.identifiers.add(IdentifierKind.PATIENT_ID, element_text(item, PATIENT_ID))
            for current, handler in plan.work:
                handler.collect(current, state)
                if handler is SHIFT and current.visit.vr == "TM":
                    place = (id(current.visit.dataset), current.visit.tag)
                    state.moving_times[place] = current.text()
        except _DECODING_ERRORS as exc:
            raise _malformed(exc, current) from None
        for wanted_kind, original in state.wanted:
            if len(original) > MAX_ORIGINAL_LENGTH:
                raise _too_long(f"a value to be replaced by a {wanted_kind} pseudonym")
        return state

    def _resolve(self, files: list[Prepared]) -> None:
        """Every file's pseudonyms: remembered ones from memory, the rest in one batch."""
        wanted = [w for file in files for w in file.state.wanted]
        try:
            answers = self.memory.resolve(self.store, wanted, propose)
        except PseudonymCollisionError:
            raise QuarantineError(
                QuarantineReason.PSEUDONYMS_EXHAUSTED,
                "the mapping store refused every fresh pseudonym proposed for this file",
            ) from None
        for file in files:
            file.state.pseudonyms = {w: answers[w] for w in file.state.wanted}

    def _apply(
        self, dataset: FileDataset, plan: _Plan, state: FileState, payloads: _Payloads
    ) -> None:
        current: Step | None = None
        try:
            for current, handler in plan.work:
                handler.apply(current, state)
            if plan.kept_text and state.identifiers.needles:
                self._scrub_kept_text(plan.kept_text, state)
            current = None
            drop_orphan_creators(plan.creators)
            drop_stale_instance_index(dataset)
            cap_birth_date_of(dataset, state)
            if payloads.masks:
                apply_masks(dataset, payloads.masks)
            self._trial_writer.write(
                dataset, state.enrollment, payloads.accepted, cleaned_pixels=bool(payloads.masks)
            )
            self._add(dataset)
            finish_file_meta(dataset)
        except _DECODING_ERRORS as exc:
            raise _malformed(exc, current) from None

    @staticmethod
    def _scrub_kept_text(steps: list[Step], state: FileState) -> None:
        """Kept free text holding one of the file's identifiers is scrubbed, not kept:
        the guard would refuse the file otherwise. A quick look at the raw value first,
        so untouched text is never decoded."""
        texts = []
        for step in steps:
            raw = step.visit.element.value
            texts.append(raw.decode("latin-1") if isinstance(raw, bytes) else value_text(raw))
        haystack = "\x00".join(texts).lower()
        if not any(n.text in haystack for n in state.identifiers.needles.values()):
            return  # the common case: one search per needle, nothing decoded
        for step, text in zip(steps, texts, strict=True):
            lowered = text.lower()
            if any(n.text in lowered for n in state.identifiers.needles.values()):
                SCRUB.apply(step, state)

    def _add(self, dataset: Dataset) -> None:
        """The recipe's ADDs, last: attributes the file lacks, at the top level."""
        for addition in self.rules.additions:
            if addition.tag in dataset:
                continue  # present: the recipe's ADD acted on it as a REPLACE
            try:
                value = convert_text(addition.vr, addition.value)
            except (ValueError, OverflowError):
                raise QuarantineError(
                    QuarantineReason.INVALID_REPLACEMENT,
                    f"{addition.origin}: the value is not a valid {addition.vr} value",
                ) from None
            dataset.add_new(addition.tag, addition.vr, value)


@contextmanager
def _quiet() -> Iterator[None]:
    """pydicom's warnings about invalid values quote the values: never shown from here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _in_scope(sequences: SequenceRules, scope: _Scope, action: Action, found: Visit) -> Action:
    """The action for an element inside a C or D sequence."""
    if scope is _CLEANED:
        return sequences.cleaned(action, found.tag, found.vr)
    if scope is _DROPPED:
        return sequences.dropped()
    return sequences.in_dummy(action, found.tag, found.vr, scope.dummy_path, scope.keyword)


def _enter(scopes: dict[int, _Scope], scope: _Scope | None, found: Visit, code: Code) -> None:
    """Mark the items of a sequence about to be walked: cleaned, or dummy and dropped."""
    items = found.dataset[found.key].value
    if code is not Code.DUMMY:
        for item in items:
            scopes[id(item)] = _CLEANED
        return
    outer = scope.dummy_path if scope is not None else ()
    dummy = _Scope("dummy", (*outer, found.tag), found.keyword)
    for index, item in enumerate(items):
        scopes[id(item)] = dummy if index == 0 else _DROPPED


def _handler(action: Action, found: Visit) -> Handler | None:
    try:
        return handler_for(action, found.vr, found.keyword)
    except NotApplicableError as exc:
        raise QuarantineError(
            QuarantineReason.INVALID_REPLACEMENT, f"{found.path_text()}: {exc}"
        ) from None


_ACCEPTED_DOCUMENT = Action(
    Code.KEEP,
    "engine setting: encapsulated documents accepted as the user's responsibility",
    table_code="D",
)


def patient_key(dataset: Dataset) -> str:
    """The key the patient is enrolled by (see the module docstring)."""
    patient_id = _top_text(dataset, "PatientID")
    if patient_id:
        return f"id:{_top_text(dataset, 'IssuerOfPatientID')}|{patient_id}"
    name = _top_text(dataset, "PatientName").rstrip("^=")
    if name:
        return f"name:{name}|{_top_text(dataset, 'PatientBirthDate')}"
    study = _top_text(dataset, "StudyInstanceUID")
    if study:
        return f"study:{study}"
    raise QuarantineError(
        QuarantineReason.NO_PATIENT,
        "the file has no Patient ID, Patient's Name or Study Instance UID to tell "
        "which subject it belongs to",
    )


@cache
def proposal_vr(kind: str) -> str:
    """The VR a kind's pseudonyms are proposed for (one form per mapping)."""
    if kind == UID_KIND:
        return "UI"
    pseudo_class = get_class(kind)
    for vr in ("PN", "UI", "TM", "IS", "LO", "SH"):
        if pseudo_class.accepts(vr):
            return vr
    return sorted(pseudo_class.vrs)[0]


def propose(kind: str) -> str:
    """A fresh random proposal for a mapping of ``kind``."""
    if kind == UID_KIND:
        return propose_uid()
    return get_class(kind).propose(proposal_vr(kind))


def _top_text(dataset: Dataset, keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    if keyword == "PatientName" or not isinstance(dataset.get_item(tag), RawDataElement):
        return value_text(dataset.get(keyword)).strip()  # decoded with its character set
    return element_text(dataset, tag)


def _items_of(step: Step, encodings: tuple[str, ...]) -> Sequence:
    """A sequence's items, read from its raw bytes when it is still raw: the sequence
    is going, so it is parsed for its values without being put back (half the cost)."""
    raw = step.visit.element
    if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
        return convert_SQ(
            raw.value,
            raw.is_implicit_VR,
            raw.is_little_endian,
            list(encodings) or None,
            raw.value_tell,
        )
    return step.visit.dataset[step.visit.key].value


def identifier_kind(action: Action, found: Visit) -> IdentifierKind | None:
    """The kind of identifier an element's original is, if it leaves the file.

    An original that leaves the file because it identifies someone is a needle for
    the scrubber and the guard. Values that stay (K, JITTER, C on text: cleaned in
    place) are not: a kept value cannot leak itself. UIDs are collected by their
    handler (only those it replaces); trial and file meta attributes are the
    engine's own.
    """
    code = action.code
    if code is Code.KEEP or code is Code.JITTER or found.tag >> 16 in (_TRIAL_GROUP, 0x0002):
        return None
    if code is Code.CLEAN and found.vr != "PN":
        return None
    kind = kind_of(found.keyword, found.vr)
    if kind is None and code is Code.PSEUDO and action.pseudo_class:
        pseudo_class = get_class(action.pseudo_class)
        if pseudo_class.identifying and pseudo_class.name != "UID":
            kind = _PSEUDO_KINDS.get(pseudo_class.name, IdentifierKind.OTHER_ID)
    return None if kind is IdentifierKind.UID else kind


def _codec(dataset: Dataset) -> str | None:
    """The one Python codec raw text of this file decodes with, if there is one."""
    encodings = _encodings(dataset)
    if not encodings:
        return "latin-1"  # the default repertoire (ASCII), read byte for byte
    if len(encodings) > 1 or "2022" in encodings[0]:
        return None  # code extensions switch character sets inside values
    return encodings[0]


def _encodings(dataset: Dataset) -> tuple[str, ...]:
    charset = element_text(dataset, 0x00080005)
    if not charset:
        return ()
    try:
        return tuple(convert_encodings([term.strip() for term in charset.split("\\")]))
    except LookupError:
        return ()


def _malformed(exc: BaseException, step: Step | None = None) -> QuarantineError:
    where = f" in {step.where()}" if step is not None else ""
    return QuarantineError(
        QuarantineReason.MALFORMED,
        f"a value{where} cannot be decoded ({type(exc).__name__}); the file is damaged "
        "or does not follow its VRs",
    )


def _too_long(what: str) -> QuarantineError:
    return QuarantineError(
        QuarantineReason.VALUE_TOO_LONG,
        f"{what} is longer than {MAX_ORIGINAL_LENGTH} characters, far beyond any valid "
        "value; the mapping store takes none that long",
    )


def _markers(rules: Rules) -> Markers:
    codes = [MethodCodeItem(c.value, c.scheme, c.meaning) for c in rules.method_codes()]
    facts = list(rules.method_description())
    if Option.RETAIN_LONG_MODIFIED_DATES in rules.options or _recipe_moves_dates(rules):
        temporal = "MODIFIED"
    elif Option.RETAIN_LONG_FULL_DATES in rules.options:
        temporal = "UNMODIFIED"
    else:
        temporal = "REMOVED"
    return Markers.build(facts, codes, temporal)


def _recipe_moves_dates(rules: Rules) -> bool:
    for recipe in rules.recipes:
        for rule in recipe.rules:
            if rule.jitter_days is not None or rule.pseudo_class in ("DATE", "DATETIME"):
                return True
    return False


def _originals(steps: list[Step]) -> list[str | None]:
    return [_display(step.visit.dataset.get(step.visit.tag)) for step in steps]


def _rows(dataset: FileDataset, steps: list[Step], originals: list[str | None]) -> list[InspectRow]:
    meta = dataset.file_meta
    rows = []
    seen = set()
    for step, original in zip(steps, originals, strict=True):
        visit = step.visit
        in_meta = visit.dataset is meta
        if not visit.path:
            seen.add((in_meta, visit.tag))
        after = visit.dataset.get(visit.tag) if visit.tag in visit.dataset else None
        rows.append(
            InspectRow(
                f"file meta {visit.path_text()}" if in_meta else visit.path_text(),
                visit.keyword,
                visit.vr,
                step.action.describe(),
                original,
                None if after is None else _display(after),
            )
        )
    for in_meta, container in ((True, meta), (False, dataset)):
        for tag in sorted(container.keys()):
            if (in_meta, tag) not in seen:
                element = container[tag]
                path = format_path((), tag)
                rows.append(
                    InspectRow(
                        f"file meta {path}" if in_meta else path,
                        element.keyword,
                        element.VR,
                        "ADD (engine: trial attributes, de-identification markers, file meta)",
                        None,
                        _display(element),
                    )
                )
    return rows


def _display(element: object) -> str | None:
    if element is None:
        return None
    value = getattr(element, "value", element)
    if isinstance(value, Sequence):
        return f"<{len(value)} item(s)>"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = value_text(value)
    return text if len(text) <= 200 else text[:200] + "..."
