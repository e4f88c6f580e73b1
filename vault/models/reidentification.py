"""Re-identification requests and the grants they become."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.models.base import Base, UTCDateTime, utcnow


class RequestStatus(StrEnum):
    """The life of a request: pending -> approved -> released, or denied, or expired."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    RELEASED = "released"
    EXPIRED = "expired"


class ReidentificationRequest(Base):
    """A request to take pseudonyms or subject IDs back to originals; its grant once approved."""

    __tablename__ = "reidentification_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("principals.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(Text)
    pseudonyms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """[{"kind": ..., "pseudonym": ...}]: pseudonyms only, never originals."""
    subject_ids: Mapped[list[str]] = mapped_column(JSON)
    subject_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
    grant_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
