"""Request and response bodies of the HTTP API (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deid.contract.limits import MAX_BATCH_ITEMS, MAX_ORIGINAL_LENGTH
from deid.contract.trial_config import ReidentificationPolicy
from vault.models import Purpose, Role

Kind = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,31}$")]
Value = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ORIGINAL_LENGTH)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=256)]
MAX_ITEMS = MAX_BATCH_ITEMS


class Strict(BaseModel):
    """Unknown fields are refused, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error: a stable code and a message saying what to do."""

    error: str
    message: str
    details: list[dict[str, Any]] | None = None


class PseudonymItemIn(Strict):
    """One original and a fresh proposal for it."""

    kind: Kind
    original: Value
    proposal: Short


class PseudonymBatchIn(Strict):
    """A batch of get-or-create items."""

    items: list[PseudonymItemIn] = Field(max_length=MAX_ITEMS)


class LookupItemIn(Strict):
    """One original to look up."""

    kind: Kind
    original: Value


class LookupBatchIn(Strict):
    """A batch of forward lookups."""

    items: list[LookupItemIn] = Field(max_length=MAX_ITEMS)


class PseudonymsOut(BaseModel):
    """Answers in request order; null = proposal refused (get-or-create) or unmapped (lookup)."""

    pseudonyms: list[str | None]


class EnrollIn(Strict):
    """A patient key (for example issuer + patient ID) to enroll or find."""

    patient_key: Value


class EnrollmentOut(BaseModel):
    """A patient as a trial subject."""

    subject_id: str
    date_offset_days: int
    created: bool


class TrialInfoOut(BaseModel):
    """The public information of a trial and site (what ``deid`` writes into files)."""

    trial: str
    sponsor_name: str
    protocol_id: str
    protocol_name: str
    site_id: str
    site_name: str


class SiteIn(Strict):
    """A new site."""

    site_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SiteOut(BaseModel):
    """A site."""

    site_id: str
    name: str


class TrialOut(BaseModel):
    """A trial as its members see it."""

    key: str
    sponsor_name: str
    protocol_id: str
    protocol_name: str
    status: str
    settings: dict[str, Any]
    sites: list[SiteOut]
    current_key_version: int | None = None
    """Shown to admins only."""


class TrialChangeIn(Strict):
    """Settings to change; those left out stay as they are.

    Sponsor, protocol name, site names and the re-identification settings may change
    at any time. The protocol ID, the subject ID template and the date offset range
    stay fixed once the trial has enrolled a subject or issued a pseudonym (409).
    The trial key never changes. ``sites`` renames the sites it names and adds new
    ones; no site is removed.
    """

    sponsor_name: str | None = Field(default=None, description="Clinical Trial Sponsor Name")
    protocol_id: str | None = Field(default=None, description="'' for the trial key")
    protocol_name: str | None = Field(default=None, description="'' for the trial key")
    subject_id_template: str | None = None
    date_offset_min_days: int | None = None
    date_offset_max_days: int | None = None
    reidentification_policy: ReidentificationPolicy | None = None
    bulk_reidentification_limit: int | None = None
    grant_ttl_hours: int | None = None
    sites: dict[str, str] | None = Field(default=None, description="site ID -> site name")


class TrialsOut(BaseModel):
    """The trials the caller can see."""

    trials: list[TrialOut]


class CloseTrialIn(Strict):
    """Closing a trial; ``confirm`` must repeat the trial key."""

    confirm: str
    destroy_keys: bool = False


class ClosedTrialOut(BaseModel):
    """The outcome of closing a trial."""

    trial: str
    status: str
    destroyed_data_keys: int


class RoleIn(Strict):
    """A role: site_uploader needs trial and site; requester and approver a trial."""

    role: Role
    trial: str | None = None
    site: str | None = None


class RoleOut(BaseModel):
    """A role binding."""

    role: str
    trial: str | None
    site: str | None


class PrincipalIn(Strict):
    """A new principal."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: Annotated[str, StringConstraints(max_length=256)] = ""
    roles: list[RoleIn] = Field(default_factory=list, max_length=100)


class PrincipalOut(BaseModel):
    """A principal and its roles."""

    name: str
    description: str
    roles: list[RoleOut]
    created_at: datetime


class PrincipalsOut(BaseModel):
    """Every principal."""

    principals: list[PrincipalOut]


class TokenIn(Strict):
    """A new token; ``expires_in_days`` null means it never expires."""

    label: Annotated[str, StringConstraints(max_length=64)] = ""
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class TokenOut(BaseModel):
    """A token's metadata (never the token itself)."""

    id: int
    principal: str
    display_prefix: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewTokenOut(TokenOut):
    """A token as issued: ``token`` is shown this once and stored only as a digest."""

    token: str


class TokensOut(BaseModel):
    """A principal's tokens."""

    tokens: list[TokenOut]


class MeOut(BaseModel):
    """Who the token belongs to."""

    principal: str
    roles: list[RoleOut]


class PseudonymRefIn(Strict):
    """A pseudonym to take back."""

    kind: Kind
    pseudonym: Short


class ReidentificationIn(Strict):
    """A re-identification request."""

    purpose: Purpose
    justification: Annotated[str, StringConstraints(min_length=10, max_length=2000)]
    pseudonyms: list[PseudonymRefIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    subject_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_ITEMS
    )


class DecisionIn(Strict):
    """An approver's decision comment."""

    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


class PseudonymRefOut(BaseModel):
    """A pseudonym named in a request."""

    kind: str
    pseudonym: str


class ReidentificationOut(BaseModel):
    """A request and, once approved, its grant (never an original)."""

    id: int
    trial: str
    requester: str
    purpose: str
    justification: str
    status: str
    subject_count: int
    pseudonyms: list[PseudonymRefOut]
    subject_ids: list[str]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    grant_expires_at: datetime | None
    released_at: datetime | None


class ReidentificationsOut(BaseModel):
    """Requests, newest first."""

    requests: list[ReidentificationOut]


class ReleasedPseudonymOut(BaseModel):
    """A pseudonym and its original (null when the vault holds no such pseudonym)."""

    kind: str
    pseudonym: str
    original: str | None


class ReleasedSubjectOut(BaseModel):
    """A subject ID, its patient key and date offset (null when unknown)."""

    subject_id: str
    patient_key: str | None
    date_offset_days: int | None


class ReleaseOut(BaseModel):
    """The originals of a grant, sent once to its requester."""

    request: ReidentificationOut
    pseudonyms: list[ReleasedPseudonymOut]
    subjects: list[ReleasedSubjectOut]


class AuditRecordOut(BaseModel):
    """One audit record, with the hashes that chain it."""

    seq: int
    occurred_at: str
    principal_id: int | None
    principal_name: str
    role: str
    client_address: str
    trial_key: str | None
    action: str
    outcome: str
    purpose: str | None
    justification: str | None
    details: dict[str, Any]
    prev_hash: str
    record_hash: str


class AuditPageOut(BaseModel):
    """A page of records; pass ``next_after_seq`` as ``after_seq`` for the next page."""

    records: list[AuditRecordOut]
    next_after_seq: int | None


class VerificationOut(BaseModel):
    """The outcome of verifying the chain and every checkpoint."""

    ok: bool
    records_checked: int
    checkpoints_checked: int
    head_seq: int
    first_bad_seq: int | None
    problem: str | None
    checkpoint_problems: list[str]


class CheckpointOut(BaseModel):
    """A signed checkpoint of the chain head."""

    seq: int
    record_hash: str
    signed_at: datetime
    key_id: str
    signature: str


class RewrapOut(BaseModel):
    """The outcome of rewrapping data keys under the newest master key."""

    master_key_version: int
    rewrapped: int


class RotateOut(BaseModel):
    """A trial's new data key version."""

    trial: str
    current_key_version: int


class ReencryptIn(Strict):
    """How many rows one re-encryption batch moves."""

    batch_size: int = Field(default=500, ge=1, le=10000)


class ReencryptOut(BaseModel):
    """One batch of re-encryption."""

    trial: str
    key_version: int
    reencrypted: int
    remaining: int
