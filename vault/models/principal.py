"""Principals, their role bindings and API tokens, and failed-authentication counters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.models.base import Base, UTCDateTime, utcnow


class Role(StrEnum):
    """What a principal may do, within a trial (and site) or everywhere."""

    SITE_UPLOADER = "site_uploader"
    REIDENTIFY_REQUESTER = "reidentify_requester"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Principal(Base):
    """A person or a service that holds tokens."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    """The embedded store's local principal: holds no tokens."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoleBinding(Base):
    """A role of a principal: in a trial (and site), or everywhere when trial_id is NULL."""

    __tablename__ = "role_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """An API token: only its SHA-256 digest is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    """The token's first characters, so an operator can tell tokens apart."""
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthFailure(Base):
    """Failed authentications of one client address in the current window."""

    __tablename__ = "auth_failures"

    client_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
