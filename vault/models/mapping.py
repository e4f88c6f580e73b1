"""Subjects (enrolled patients) and original-to-pseudonym mappings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vault.models.base import Base, BigId, UTCDateTime, utcnow

MAX_PSEUDONYM_LENGTH = 256


class Subject(Base):
    """A patient enrolled in a trial: found by the patient key's blind index."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("trial_id", "patient_blind_index"),
        UniqueConstraint("trial_id", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    patient_blind_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int | None] = mapped_column(Integer)
    patient_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    date_offset_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mapping(Base):
    """One original of one kind in one trial, and its pseudonym."""

    __tablename__ = "mappings"
    __table_args__ = (
        UniqueConstraint("trial_id", "kind", "blind_index"),
        # Two originals of an identifying kind never share a pseudonym.
        Index(
            "uq_mappings_pseudonym_identifying",
            "trial_id",
            "kind",
            "pseudonym",
            unique=True,
            sqlite_where=text("identifying"),
            postgresql_where=text("identifying"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    blind_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    original_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(Integer)
    pseudonym: Mapped[str] = mapped_column(String(MAX_PSEUDONYM_LENGTH))
    identifying: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
