"""Key management (admin): rewrap under a new master key, rotate, re-encrypt."""

from __future__ import annotations

from fastapi import APIRouter

from vault.api.deps import CallerDep
from vault.api.schemas import ReencryptIn, ReencryptOut, RewrapOut, RotateOut
from vault.dependencies import RuntimeDep, SessionDep
from vault.services import keys as service

router = APIRouter(prefix="/v1", tags=["keys"])


@router.post("/keys/rewrap")
def rewrap(session: SessionDep, runtime: RuntimeDep, caller: CallerDep) -> RewrapOut:
    """Rewrap every data key under the newest master key version in the ring (admin)."""
    count = service.rewrap_data_keys(session, runtime, caller)
    return RewrapOut(master_key_version=runtime.barrier.provider.current_version, rewrapped=count)


@router.post("/trials/{trial}/keys/rotate")
def rotate(trial: str, session: SessionDep, runtime: RuntimeDep, caller: CallerDep) -> RotateOut:
    """Give a trial a new data key version (admin)."""
    version = service.rotate_data_key(session, runtime, caller, trial)
    return RotateOut(trial=trial, current_key_version=version)


@router.post("/trials/{trial}/keys/reencrypt")
def reencrypt(
    trial: str, body: ReencryptIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> ReencryptOut:
    """Move one batch of a trial's rows to its newest data key (admin); repeat until 0 remain."""
    p = service.reencrypt_batch(session, runtime, caller, trial, body.batch_size)
    return ReencryptOut(
        trial=p.trial, key_version=p.key_version, reencrypted=p.reencrypted, remaining=p.remaining
    )
