"""The web console's tables: people's passwords and server-side sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.models.base import Base, UTCDateTime, utcnow


class ConsolePassword(Base):
    """A principal's console password, as a scrypt hash (parameters and salt included).

    Kept apart from ``principals`` so that no query of principals ever carries it.
    """

    __tablename__ = "console_passwords"

    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(256))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser: found by the SHA-256 of its cookie, never by the cookie itself."""

    __tablename__ = "console_sessions"

    id_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    """The synchronizer token every form of this session must carry."""
    client_address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    """The absolute end of the session, however active it is."""
    flash: Mapped[str | None] = mapped_column(String(512))
    """A status message for the next page (after a redirect), shown once."""
