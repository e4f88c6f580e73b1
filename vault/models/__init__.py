"""The vault's tables (SQLAlchemy 2 typed declarative); Alembic creates them."""

from deid.contract.purposes import Purpose
from vault.models.audit import AuditCheckpoint, AuditHead, AuditRecord
from vault.models.base import Base, utcnow
from vault.models.console import ConsolePassword, ConsoleSession
from vault.models.mapping import MAX_PSEUDONYM_LENGTH, Mapping, Subject
from vault.models.principal import ApiToken, AuthFailure, Principal, Role, RoleBinding
from vault.models.reidentification import ReidentificationRequest, RequestStatus
from vault.models.trial import DataKey, Site, Trial, TrialStatus

__all__ = [
    "MAX_PSEUDONYM_LENGTH",
    "ApiToken",
    "AuditCheckpoint",
    "AuditHead",
    "AuditRecord",
    "AuthFailure",
    "Base",
    "ConsolePassword",
    "ConsoleSession",
    "DataKey",
    "Mapping",
    "Principal",
    "Purpose",
    "ReidentificationRequest",
    "RequestStatus",
    "Role",
    "RoleBinding",
    "Site",
    "Subject",
    "Trial",
    "TrialStatus",
    "utcnow",
]
