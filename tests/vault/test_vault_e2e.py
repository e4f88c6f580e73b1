"""End to end: real uvicorn processes, real HTTP on loopback, real databases."""

import io
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.vault.databases import database_url, postgres_schema
from tests.vault.servers import vault_server
from vault.cli import main
from vault.db import create_vault_engine
from vault.models import Mapping, Subject

pytestmark = pytest.mark.e2e
ORIGINALS = [f"1.3.6.1.4.1.9590.{i}" for i in range(60)]
PATIENTS = [f"MRN-{i:03d}" for i in range(12)]


def _init(url: str, key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("VAULT_DATABASE_URL", url)
    out = io.StringIO()
    assert main(["init", "--key-dir", str(key_dir)], out=out) == 0
    admin = next(line.strip() for line in out.getvalue().splitlines() if "dvt_" in line)
    return {"Authorization": f"Bearer {admin}"}


def _setup_trial(base: str, admin: dict[str, str]) -> list[dict[str, str]]:
    """A trial with two sites and an uploader token for each."""
    with httpx.Client(base_url=base, headers=admin, timeout=30) as client:
        client.post(
            "/v1/trials", json={"key": "E2E", "sites": {"S01": "A", "S02": "B"}}
        ).raise_for_status()
        headers = []
        for site in ("S01", "S02"):
            client.post(
                "/v1/principals",
                json={
                    "name": f"up-{site}",
                    "roles": [{"role": "site_uploader", "trial": "E2E", "site": site}],
                },
            ).raise_for_status()
            token = client.post(f"/v1/principals/up-{site}/tokens", json={}).json()["token"]
            headers.append({"Authorization": f"Bearer {token}"})
        return headers


def _load(
    bases: list[str], uploaders: list[dict[str, str]], clients: int
) -> list[dict[str, object]]:
    """Many clients, spread over every server, ask for the same originals and patients."""
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def client_run(n: int) -> None:
        site = ("S01", "S02")[n % 2]
        try:
            with httpx.Client(headers=uploaders[n % 2], timeout=60) as http:
                answers: dict[str, object] = {}
                for start in range(0, len(ORIGINALS), 6):
                    base = bases[(n + start) % len(bases)]
                    chunk = ORIGINALS[start : start + 6]
                    items = [
                        {"kind": "UID", "original": o, "proposal": f"2.25.{n}{start + i:04d}"}
                        for i, o in enumerate(chunk)
                    ]
                    r = http.post(
                        f"{base}/v1/trials/E2E/sites/{site}/pseudonyms", json={"items": items}
                    )
                    r.raise_for_status()
                    answers.update(zip(chunk, r.json()["pseudonyms"], strict=True))
                for i, patient in enumerate(PATIENTS):
                    base = bases[(n + i) % len(bases)]
                    r = http.post(
                        f"{base}/v1/trials/E2E/sites/{site}/enroll", json={"patient_key": patient}
                    )
                    r.raise_for_status()
                    answers[patient] = (r.json()["subject_id"], r.json()["date_offset_days"])
                results.append(answers)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def _check(url: str, results: list[dict[str, object]]) -> None:
    assert all(r == results[0] for r in results), "clients disagree about a mapping"
    assert None not in results[0].values()
    engine = create_vault_engine(url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Mapping)).scalar() == len(
            ORIGINALS
        )
        assert connection.execute(select(func.count()).select_from(Subject)).scalar() == len(
            PATIENTS
        )
    engine.dispose()
    subject_ids = Counter(v[0] for k, v in results[0].items() if k in PATIENTS)  # type: ignore[index]
    assert len(subject_ids) == len(PATIENTS)


def _verify_chain() -> str:
    out = io.StringIO()
    code = main(["audit", "verify"], out=out)
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.mark.postgres
def test_two_vault_processes_on_one_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_dir = tmp_path / "keys"
    with postgres_schema() as url:
        admin = _init(url, key_dir, monkeypatch)
        monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))
        log = tmp_path / "servers.log"
        with vault_server(url, key_dir, log) as one, vault_server(url, key_dir, log) as two:
            uploaders = _setup_trial(one, admin)

            # Audit traffic on both processes while the mapping load runs.
            def audit_load() -> None:
                with httpx.Client(headers=admin, timeout=30) as http:
                    for i in range(20):
                        base = (one, two)[i % 2]
                        http.post(
                            f"{base}/v1/principals", json={"name": f"p{i}"}
                        ).raise_for_status()

            auditing = threading.Thread(target=audit_load)
            auditing.start()
            results = _load([one, two], uploaders, clients=8)
            auditing.join()
            _check(url, results)
            assert "audit chain OK" in _verify_chain()
            with httpx.Client(headers=admin, timeout=30) as http:
                assert http.get(f"{two}/v1/principals").json()["principals"][-1]["name"] == "up-S02"


def test_one_vault_process_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_dir = tmp_path / "keys"
    with database_url("sqlite", tmp_path) as url:
        admin = _init(url, key_dir, monkeypatch)
        monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))
        with vault_server(url, key_dir, tmp_path / "server.log") as base:
            assert httpx.get(f"{base}/health").json() == {"status": "ok"}
            assert httpx.get(f"{base}/docs").status_code == 200
            uploaders = _setup_trial(base, admin)
            results = _load([base], uploaders, clients=4)
            _check(url, results)
            bad = httpx.post(
                f"{base}/v1/trials/E2E/sites/S01/enroll",
                content=b"{",
                headers={**uploaders[0], "content-type": "application/json"},
            )
            assert bad.status_code == 400 and "not valid JSON" in bad.json()["message"]
        assert "audit chain OK" in _verify_chain()
