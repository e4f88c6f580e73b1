"""Trials, their sites and their wrapped data keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vault.models.base import Base, UTCDateTime, utcnow


class TrialStatus(StrEnum):
    """Open trials take new mappings; closed ones only answer; shredded ones nothing."""

    OPEN = "open"
    CLOSED = "closed"
    SHREDDED = "shredded"


class Trial(Base):
    """A pseudonymization domain: its settings, its index salt and key version."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    sponsor_name: Mapped[str] = mapped_column(String(64))
    protocol_id: Mapped[str] = mapped_column(String(64))
    protocol_name: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The trial's :class:`deid.contract.trial_config.TrialConfig` (without its sites)."""
    index_salt: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    """Random per-trial salt of the blind-index key; None once crypto-shredded."""
    status: Mapped[str] = mapped_column(String(16), default=TrialStatus.OPEN.value)
    current_key_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Site(Base):
    """A site of a trial, with its enrollment counter (for ``{seq:N}`` subject IDs)."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("trial_id", "site_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    site_key: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    enrollment_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataKey(Base):
    """A per-trial data key, stored only wrapped by a master key version."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("trial_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    master_key_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
