"""Real vault processes for end-to-end tests: ``deid-vault serve`` on loopback ports."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VaultProcess:
    """One ``deid-vault serve`` process that can be stopped and started again.

    It keeps its port, so a restarted vault answers at the same URL. With ``tls``
    (certificate and key files for ``localhost``) uvicorn itself serves HTTPS at
    ``https://localhost:PORT``, the way ``deid-vault serve`` runs it otherwise.
    """

    def __init__(
        self,
        url: str,
        key_dir: Path,
        log: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.url = url
        self.key_dir = key_dir
        self.log = log
        self.workers = workers
        self.port = port or free_port()
        self.tls = tls
        host = "https://localhost" if tls else "http://127.0.0.1"
        self.base = f"{host}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        options = ["--port", str(self.port), "--workers", str(self.workers)]
        options += ["--log-level", "warning"]
        if self.tls is None:
            return [sys.executable, "-m", "vault.cli", "serve", *options]
        certificate, key = self.tls
        return [
            *(sys.executable, "-m", "uvicorn", "vault.api.app:create_app_from_environment"),
            *("--factory", "--host", "127.0.0.1", *options),
            *("--ssl-certfile", str(certificate), "--ssl-keyfile", str(key)),
        ]

    def start(self) -> str:
        """Start the vault and wait until it is ready; its base URL."""
        env = {
            **os.environ,
            "VAULT_DATABASE_URL": self.url,
            "VAULT_KEY_DIR": str(self.key_dir),
            "VAULT_AUDIT_CHECKPOINT_INTERVAL": "7",
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self._command(), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        verify = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else True
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the vault exited with {self.process.returncode}: {self.log.read_text()}"
                )
            try:
                if httpx.get(f"{self.base}/ready", timeout=1, verify=verify).status_code == 200:
                    return self.base
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the vault did not become ready: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Terminate the vault (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def vault_server(url: str, key_dir: Path, log: Path) -> Iterator[str]:
    """Run ``deid-vault serve`` until the block ends; yield its base URL."""
    server = VaultProcess(url, key_dir, log)
    try:
        yield server.start()
    finally:
        server.stop()
