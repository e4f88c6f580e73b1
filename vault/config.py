"""The vault's settings: environment variables prefixed ``VAULT_`` (or a ``.env`` file).

The keys are never settings themselves: settings name the files that hold them,
and :func:`load_keys` refuses missing, empty, world-readable or placeholder keys
unless ``VAULT_ENVIRONMENT=development``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deid.contract.limits import MAX_BATCH_ITEMS, MAX_ORIGINAL_LENGTH
from vault.crypto import (
    Barrier,
    KeyPaths,
    LocalKeyRingProvider,
    load_audit_signing_key,
    load_index_key,
)


class Environment(StrEnum):
    """Where the vault runs; only development relaxes the key checks."""

    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"


class DatabaseSettings(BaseSettings):
    """What the migrations need: only the database URL."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        description="postgresql+psycopg://user@host/db in production; sqlite:///path for dev"
    )


class Settings(DatabaseSettings):
    """Everything the vault is configured by."""

    key_dir: Path | None = Field(
        default=None, description="a directory holding the three key files under default names"
    )
    master_key_file: Path | None = None
    index_key_file: Path | None = None
    audit_signing_key_file: Path | None = None
    environment: Environment = Environment.PRODUCTION
    auth_failure_limit: int = Field(default=10, ge=1, description="failures per window")
    auth_failure_window_seconds: int = Field(default=300, ge=1)
    auth_lockout_seconds: int = Field(default=300, ge=1)
    audit_checkpoint_interval: int = Field(
        default=100, ge=1, description="sign the chain head every N audit records"
    )
    max_batch_items: int = Field(default=MAX_BATCH_ITEMS, ge=1)
    max_value_length: int = Field(default=MAX_ORIGINAL_LENGTH, ge=64)
    console_secure_cookies: bool = Field(
        default=True, description="false only for plain-HTTP development (development only)"
    )
    console_idle_timeout_seconds: int = Field(default=900, ge=60)
    console_session_lifetime_seconds: int = Field(default=8 * 3600, ge=300)

    @model_validator(mode="after")
    def _console_sessions_safe(self) -> Settings:
        if not self.console_secure_cookies and not self.development:
            raise ValueError(
                "VAULT_CONSOLE_SECURE_COOKIES=false is allowed only with "
                "VAULT_ENVIRONMENT=development (plain HTTP on a developer's machine)"
            )
        if self.console_idle_timeout_seconds > self.console_session_lifetime_seconds:
            raise ValueError(
                "VAULT_CONSOLE_IDLE_TIMEOUT_SECONDS must not exceed "
                "VAULT_CONSOLE_SESSION_LIFETIME_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _key_files_named(self) -> Settings:
        for name in ("master_key_file", "index_key_file", "audit_signing_key_file"):
            if getattr(self, name) is None and self.key_dir is None:
                raise ValueError(
                    f"VAULT_{name.upper()} is not set (or set VAULT_KEY_DIR to the directory "
                    "'deid-vault init' wrote the keys to)"
                )
        return self

    @property
    def development(self) -> bool:
        """True in an explicit development environment."""
        return self.environment is Environment.DEVELOPMENT

    @property
    def key_paths(self) -> KeyPaths:
        """The three key files, explicit settings first, then ``key_dir``."""
        defaults = KeyPaths.in_directory(self.key_dir or Path())
        return KeyPaths(
            self.master_key_file or defaults.master,
            self.index_key_file or defaults.index,
            self.audit_signing_key_file or defaults.audit_signing,
        )


@dataclass(frozen=True)
class Keys:
    """The loaded keys: the barrier (master ring + index key) and the audit signer."""

    barrier: Barrier
    audit_signing_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"Keys({self.barrier!r}, audit_signing_key=<masked>)"


def load_keys(settings: Settings) -> Keys:
    """Load and check the three key files named by ``settings``."""
    paths = settings.key_paths
    dev = settings.development
    provider = LocalKeyRingProvider(paths.master, development=dev)
    barrier = Barrier(provider, load_index_key(paths.index, development=dev))
    return Keys(barrier, load_audit_signing_key(paths.audit_signing, development=dev))
