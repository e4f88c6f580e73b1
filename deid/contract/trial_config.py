"""A trial's settings: its pseudonymization domain and re-identification policy.

Read from ``--trial-config FILE`` (TOML or JSON) when a trial is created, by the
embedded store or by a vault administrator. Unknown keys are refused, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deid.contract.errors import UsageError
from deid.contract.subject_ids import DEFAULT_TEMPLATE, SubjectIdTemplate, SubjectIdTemplateError

TRIAL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SITE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$"


class ReidentificationPolicy(StrEnum):
    """Whether a re-identification request is released at once or waits for approval."""

    IMMEDIATE = "immediate"
    APPROVAL = "approval"


class TrialConfig(BaseModel):
    """Everything a trial decides for itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=TRIAL_KEY_PATTERN, description="the trial's short name")
    sponsor_name: str = Field(default="UNSPECIFIED SPONSOR", min_length=1, max_length=64)
    protocol_id: str = Field(default="", max_length=64, description="defaults to the key")
    protocol_name: str = Field(default="", max_length=64, description="defaults to the key")
    subject_id_template: str = DEFAULT_TEMPLATE
    date_offset_min_days: int = Field(default=-730, ge=-36500, le=36500)
    date_offset_max_days: int = Field(default=-30, ge=-36500, le=36500)
    reidentification_policy: ReidentificationPolicy = ReidentificationPolicy.APPROVAL
    bulk_reidentification_limit: int = Field(default=10, ge=1, le=100000)
    grant_ttl_hours: int = Field(default=24, ge=1, le=24 * 90)
    sites: dict[str, str] = Field(
        default_factory=dict, description="site ID -> site name (Site ID is (0012,0030))"
    )

    @field_validator("subject_id_template")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        try:
            SubjectIdTemplate.parse(value)
        except SubjectIdTemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("sites")
    @classmethod
    def _site_ids_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for site_id, name in value.items():
            if site_id in cls.model_fields:
                # In TOML, every key after a [sites] header belongs to the sites table:
                # a setting written below it would otherwise become a site, silently.
                raise ValueError(
                    f"{site_id!r} is a setting, not a site ID: in TOML every line after "
                    "[sites] belongs to the sites table; put the settings above [sites]"
                )
            if not re.match(SITE_ID_PATTERN, site_id):
                raise ValueError(f"site ID {site_id!r} must be 1-16 letters, digits, '-' or '_'")
            if not 0 < len(name) <= 64:
                raise ValueError(f"site {site_id}: the name must be 1 to 64 characters")
        return value

    @model_validator(mode="after")
    def _offset_range(self) -> TrialConfig:
        if self.date_offset_min_days > self.date_offset_max_days:
            raise ValueError("date_offset_min_days must not exceed date_offset_max_days")
        if self.date_offset_min_days == self.date_offset_max_days == 0:
            raise ValueError("a date offset range of exactly 0 would leave every date unchanged")
        return self

    @property
    def effective_protocol_id(self) -> str:
        """The Clinical Trial Protocol ID: the configured one or the trial key."""
        return self.protocol_id or self.key

    @property
    def effective_protocol_name(self) -> str:
        """The Clinical Trial Protocol Name: the configured one or the trial key."""
        return self.protocol_name or self.key

    def site_name(self, site_id: str) -> str:
        """The configured name of ``site_id``, or the ID itself."""
        return self.sites.get(site_id, site_id)

    def differences(self, stored: TrialConfig, stored_sites: Mapping[str, str]) -> list[str]:
        """What this configuration states (the keys its file sets) that a trial with the
        ``stored`` settings and sites has otherwise, as ``key (the store has X, the file
        Y)``; empty when they agree. A site the trial does not have yet is no
        difference (it is added with the configured name)."""
        found = []
        for name in sorted(self.model_fields_set - {"key", "sites"}):
            given, kept = self._effective(name), stored._effective(name)
            if given != kept:
                found.append(f"{name} (the store has {kept!r}, the file {given!r})")
        for site_id, name in sorted(self.sites.items()):
            kept = stored_sites.get(site_id)
            if kept is not None and kept != name:
                found.append(f"sites.{site_id} (the store has {kept!r}, the file {name!r})")
        return found

    def _effective(self, name: str) -> object:
        """The value of setting ``name`` as the trial uses it (protocol ID and name
        default to the key)."""
        if name == "protocol_id":
            return self.effective_protocol_id
        if name == "protocol_name":
            return self.effective_protocol_name
        value = getattr(self, name)
        return value.value if isinstance(value, StrEnum) else value


class TrialSettingsDifferError(UsageError):
    """A trial configuration that disagrees with the settings of the existing trial; the
    message names the keys and says how to change the trial instead."""

    def __init__(self, message: str, differences: Sequence[str]) -> None:
        super().__init__(message)
        self.differences = tuple(differences)

    def __reduce__(self) -> tuple[type[TrialSettingsDifferError], tuple[str, tuple[str, ...]]]:
        # Raised in the run's store process, re-raised in the run's.
        return (type(self), (str(self), self.differences))


class TrialConfigError(UsageError, ValueError):
    """A trial configuration file that cannot be used; the message says why."""


def load_trial_config(path: Path, key: str | None = None) -> TrialConfig:
    """Read a TOML (``.toml``) or JSON trial configuration file.

    ``key`` (the trial named on the command line) fills in a missing ``key`` and
    must agree with a present one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrialConfigError(f"cannot read trial configuration {path}: {exc.strerror}") from None
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise TrialConfigError(f"trial configuration {path} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise TrialConfigError(f"trial configuration {path} must be a table/object of settings")
    if key is not None and data.setdefault("key", key) != key:
        raise TrialConfigError(
            f"trial configuration {path} is for trial {data['key']!r}, not {key!r}"
        )
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        )
        raise TrialConfigError(f"trial configuration {path}: {problems}") from None
