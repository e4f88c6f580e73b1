"""Talking to a deployed vault over HTTPS: one connection object for every ``deid`` command.

:class:`VaultConnection` owns the things every call needs and nobody should repeat:
the base URL, the API token (read from a file, masked in ``repr``), TLS verification
(on by default; ``ca_bundle`` names a private CA), timeouts, and retries with
exponential backoff on transient failures (the vault unreachable, 502/503/504, 429
with ``Retry-After``).

Errors never carry a request body or an original value: a refusal is reported by its
HTTP status and the vault's own error code and message (which the vault keeps free of
originals), an unreachable vault by the URL and the transport failure's type.

Retries: a request that was never sent (connection refused, DNS, a TLS handshake cut
short) is always retried, but a certificate that fails verification is reported at
once; a request that may have reached the vault is retried only when the caller says
it is idempotent (``idempotent=True``; get-or-create and enrollment are, by the
vault's contract; submitting a re-identification request is not).
"""

from __future__ import annotations

import os
import ssl
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from deid import __version__
from deid.contract.errors import VaultClientError, VaultRefusedError, VaultUnavailableError

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0


def read_token_file(path: Path) -> str:
    """The API token in ``path`` (first non-empty line), refusing files others may read."""
    path = Path(path)
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VaultClientError(
            f"cannot read the token file {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultClientError(
            f"the token file {path} can be read by other users; restrict it with: chmod 600 {path}"
        )
    token = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not token:
        raise VaultClientError(f"the token file {path} is empty; put the vault API token in it")
    if any(c.isspace() for c in token) or not token.isascii():
        raise VaultClientError(f"the token file {path} does not hold one API token")
    return token


def _certificate_refusal(exc: BaseException) -> str | None:
    """Why the vault's certificate was refused, if that is what ``exc`` comes from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or "certificate verify failed")[:200]
        seen = seen.__cause__ or seen.__context__
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return None


def _refusal(response: httpx.Response) -> VaultRefusedError:
    code, message = "http_error", response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body.get("error", code))[:64]
        message = str(body.get("message", message))[:500]
    return VaultRefusedError(response.status_code, code, message)


class VaultConnection:
    """An authenticated HTTP(S) connection to one vault.

    ``transport`` and ``sleep`` exist for tests of the retry policy; everything else
    uses the real network and the real clock.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_bundle: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise VaultClientError(
                f"the vault URL {base_url!r} is not an http(s) URL; "
                "give it as https://vault.example.org"
            )
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            raise VaultClientError(f"the CA bundle {ca_bundle} does not exist")
        self.base_url = str(url).rstrip("/")
        self._retries = max(0, retries)
        self._backoff = backoff
        self._sleep = sleep
        self._pid = os.getpid()
        verify: Any = True
        if ca_bundle is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca_bundle))
            except (ssl.SSLError, OSError):
                raise VaultClientError(
                    f"the CA bundle {ca_bundle} holds no usable certificate; "
                    "give the CA's certificates as a PEM file"
                ) from None
        self._client_args: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": {
                "Authorization": f"Bearer {token}",
                "User-Agent": f"deid/{__version__}",
            },
            "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            "verify": verify,
            "transport": transport,
            "follow_redirects": False,
        }
        self._client = httpx.Client(**self._client_args)

    def __repr__(self) -> str:
        return f"VaultConnection({self.base_url!r}, token=***)"

    def _http(self) -> httpx.Client:
        if os.getpid() != self._pid:  # a forked worker opens its own sockets
            self._client = httpx.Client(**self._client_args)
            self._pid = os.getpid()
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> Any:
        """Send one call; the decoded JSON answer (``None`` for an empty body)."""
        attempt = 0
        while True:
            delay = self._backoff * (2**attempt)
            try:
                response = self._http().request(method, path, json=json, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                refusal = _certificate_refusal(exc)
                if refusal is not None:  # not transient: retrying cannot help
                    raise VaultClientError(
                        f"the TLS certificate of the vault at {self.base_url} could not be "
                        f"verified ({refusal}); if a private CA signs it, give that CA's "
                        "certificates with --ca-bundle"
                    ) from None
                failure: str = type(exc).__name__
            except httpx.TransportError as exc:
                if not idempotent:
                    raise VaultUnavailableError(
                        f"the vault at {self.base_url} did not answer ({type(exc).__name__}); "
                        "the request may or may not have been carried out: check before retrying"
                    ) from None
                failure = type(exc).__name__
            else:
                if response.is_success:
                    return response.json() if response.content else None
                if response.status_code not in TRANSIENT_STATUS or (
                    response.status_code != 429 and not idempotent
                ):
                    raise _refusal(response)
                failure = f"HTTP {response.status_code}"
                delay = _retry_after(response) or delay
            if attempt >= self._retries:
                raise VaultUnavailableError(
                    f"the vault at {self.base_url} is unavailable ({failure}) after "
                    f"{attempt + 1} attempts; check that it is running and reachable, then rerun"
                )
            attempt += 1
            self._sleep(delay)

    def close(self) -> None:
        """Close the sockets."""
        self._client.close()
