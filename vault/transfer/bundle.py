"""The trial bundle file: records sealed to one transfer key, in authenticated chunks.

Layout::

    MAGIC | u32 header length | header (JSON) | chunk* ; chunk = u32 length | ciphertext

The header holds the format version, the sender's ephemeral X25519 public key, a
random salt and the recipient key's fingerprint, and nothing else. The content key
is HKDF-SHA256 over the X25519 shared secret (salt from the header, both public
keys in the info). Records are JSON lines; their bytes are cut into chunks of at
most ``chunk_bytes``, each sealed with AES-256-GCM under the nonce ``index`` and the
associated data ``SHA-256(header) | index | final flag`` (the STREAM construction):
a changed header, a changed, dropped, repeated or reordered chunk, bytes appended
after the last chunk, or a file cut at any point fails authentication. The last
record (``end``) carries the record counts and a SHA-256 over every record before
it. Plaintext exists only in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import InvalidInputError
from vault.transfer.keys import key_id, raw_public

MAGIC = b"DEID-VAULT TRIAL BUNDLE\n"
FORMAT = "deid-vault trial bundle"
FORMAT_VERSION = 1
SUITE = "X25519-HKDF-SHA256-AES-256-GCM-STREAM"
CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
SALT_BYTES = 32
TAG_BYTES = 16
_LENGTH = struct.Struct(">I")
T = TypeVar("T")


class BundleError(InvalidInputError):
    """A bundle that cannot be used: not a bundle, altered, cut short, or not for this key.

    Messages never quote the bundle's content.
    """


def _content_key(shared: bytes, salt: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=salt,
        info=b"deid-vault trial bundle v1|" + ephemeral + recipient,
    ).derive(shared)
    return AESGCM(key)


def _nonce(index: int) -> bytes:
    # Every bundle has its own key (fresh ephemeral key and salt), so a counter is unique.
    return index.to_bytes(12, "big")


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _record_line(record: dict[str, Any]) -> bytes:
    return (
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
        + b"\n"
    )


class BundleWriter:
    """Seals records into an open binary file, chunk by chunk.

    Call :meth:`write` for each record and :meth:`finish` once; ``finish`` appends
    the ``end`` record (counts by record type, hash) and the final chunk, and
    returns the digest of every byte written (it names the bundle in both vaults'
    audit records).
    """

    def __init__(
        self, target: IO[bytes], recipient: X25519PublicKey, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be 1 to {MAX_CHUNK_BYTES}")
        ephemeral = X25519PrivateKey.generate()
        salt = secrets.token_bytes(SALT_BYTES)
        ephemeral_raw = raw_public(ephemeral.public_key())
        self.recipient_key_id = key_id(recipient)
        header = json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "suite": SUITE,
                "ephemeral_public_key": base64.b64encode(ephemeral_raw).decode("ascii"),
                "salt": base64.b64encode(salt).decode("ascii"),
                "recipient_key_id": self.recipient_key_id,
                "chunk_bytes": chunk_bytes,
            },
            sort_keys=True,
        ).encode("ascii")
        head = MAGIC + _LENGTH.pack(len(header)) + header
        self._aead = _content_key(
            ephemeral.exchange(recipient), salt, ephemeral_raw, raw_public(recipient)
        )
        self._header_digest = hashlib.sha256(head).digest()
        self._target = target
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._index = 0
        self._records = hashlib.sha256()
        self.counts: dict[str, int] = {}
        self._file = hashlib.sha256()
        self._finished = False
        self._emit(head)

    def _emit(self, data: bytes) -> None:
        self._target.write(data)
        self._file.update(data)

    def _seal(self, plaintext: bytes, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._index), plaintext, _aad(self._header_digest, self._index, final)
        )
        self._emit(_LENGTH.pack(len(sealed)) + sealed)
        self._index += 1

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a JSON object with a ``type``)."""
        if self._finished:
            raise RuntimeError("the bundle is already finished")
        line = _record_line(record)
        self._records.update(line)
        self.counts[record["type"]] = self.counts.get(record["type"], 0) + 1
        self._buffer += line
        # Only full chunks leave here; the rest waits, so the final chunk is never skipped.
        while len(self._buffer) > self._chunk_bytes:
            self._seal(bytes(self._buffer[: self._chunk_bytes]), final=False)
            del self._buffer[: self._chunk_bytes]

    def finish(self) -> str:
        """Write the ``end`` record and the final chunk; return the file's SHA-256 (hex)."""
        end = {"type": "end", "counts": dict(self.counts), "sha256": self._records.hexdigest()}
        self.write(end)
        self._finished = True
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()
        return self._file.hexdigest()


@dataclass(frozen=True)
class _Header:
    version: int
    recipient_key_id: str
    chunk_bytes: int
    salt: bytes
    ephemeral: bytes


def _parse_header(data: bytes) -> _Header:
    try:
        header = json.loads(data)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError
        version = header["version"]
        if not isinstance(version, int):
            raise ValueError
    except (ValueError, KeyError):
        raise BundleError("the bundle's header is damaged (not a bundle header)") from None
    if version > FORMAT_VERSION:
        raise BundleError(
            f"the bundle has format version {version}, newer than this deid-vault "
            f"reads ({FORMAT_VERSION}); import it with a newer deid-vault"
        )
    if version != FORMAT_VERSION or header.get("suite") != SUITE:
        raise BundleError(f"the bundle's format version {version} is not supported")
    try:
        parsed = _Header(
            version=version,
            recipient_key_id=str(header["recipient_key_id"]),
            chunk_bytes=int(header["chunk_bytes"]),
            salt=base64.b64decode(header["salt"], validate=True),
            ephemeral=base64.b64decode(header["ephemeral_public_key"], validate=True),
        )
    except (KeyError, ValueError, TypeError, binascii.Error):
        raise BundleError("the bundle's header is damaged (bad field)") from None
    if (
        len(parsed.ephemeral) != 32
        or len(parsed.salt) != SALT_BYTES
        or not 0 < parsed.chunk_bytes <= MAX_CHUNK_BYTES
    ):
        raise BundleError("the bundle's header is damaged (bad field)")
    return parsed


class BundleReader:
    """Opens a bundle with the recipient's private key and yields its records, verified.

    The header is checked when the reader is made (format, version, recipient).
    Every chunk is authenticated before any of its records is yielded; the ``end``
    record's hash and counts are checked before it is yielded. A problem raises
    :class:`BundleError`; the caller's transaction then rolls back whatever it did
    with the records already yielded.
    """

    def __init__(self, source: IO[bytes], private_key: X25519PrivateKey) -> None:
        self._source = source
        self._file = hashlib.sha256()
        magic = self._read(len(MAGIC))
        if magic != MAGIC:
            raise BundleError("this file is not a deid-vault trial bundle")
        (length,) = _LENGTH.unpack(self._read_exactly(_LENGTH.size, "header"))
        if length > MAX_HEADER_BYTES:
            raise BundleError("the bundle's header is damaged (impossible length)")
        header_bytes = self._read_exactly(length, "header")
        self._header_digest = hashlib.sha256(magic + _LENGTH.pack(length) + header_bytes).digest()
        header = _parse_header(header_bytes)
        own_id = key_id(private_key.public_key())
        if header.recipient_key_id != own_id:
            raise BundleError(
                f"the bundle was sealed to transfer key {header.recipient_key_id[:64]}, "
                f"not to this private key ({own_id}); use the transfer.key whose "
                "transfer.pub the exporter was given"
            )
        self.recipient_key_id = own_id
        self.version = header.version
        self.chunk_bytes = header.chunk_bytes
        try:
            shared = private_key.exchange(X25519PublicKey.from_public_bytes(header.ephemeral))
        except ValueError:  # a low-order point: the header was tampered with
            raise BundleError("the bundle's header is damaged (bad ephemeral key)") from None
        self._aead = _content_key(
            shared, header.salt, header.ephemeral, raw_public(private_key.public_key())
        )

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of every byte read so far (the whole file once records are read)."""
        return self._file.hexdigest()

    def _read(self, size: int) -> bytes:
        data = self._source.read(size)
        self._file.update(data)
        return data

    def _read_exactly(self, size: int, what: str) -> bytes:
        data = self._read(size)
        if len(data) != size:
            raise BundleError(f"the bundle is truncated (it ends inside a {what})")
        return data

    def _next_chunk(self) -> bytes | None:
        prefix = self._read(_LENGTH.size)
        if not prefix:
            return None
        if len(prefix) != _LENGTH.size:
            raise BundleError("the bundle is truncated (it ends inside a chunk)")
        (length,) = _LENGTH.unpack(prefix)
        if not TAG_BYTES <= length <= self.chunk_bytes + TAG_BYTES:
            raise BundleError("the bundle is damaged (a chunk has an impossible length)")
        return self._read_exactly(length, "chunk")

    def _open(self, index: int, sealed: bytes, final: bool) -> bytes:
        try:
            return self._aead.decrypt(
                _nonce(index), sealed, _aad(self._header_digest, index, final)
            )
        except InvalidTag:
            pass
        if final:
            try:
                self._aead.decrypt(_nonce(index), sealed, _aad(self._header_digest, index, False))
            except InvalidTag:
                pass
            else:
                raise BundleError(
                    f"the bundle is truncated: it ends after chunk {index + 1}, which is not "
                    "its last; copy the whole file again"
                )
        raise BundleError(
            f"the bundle was altered: chunk {index + 1} fails authentication "
            "(changed, reordered or appended bytes); nothing from it can be trusted"
        )

    def _plaintext_chunks(self) -> Iterator[bytes]:
        current = self._next_chunk()
        if current is None:
            raise BundleError("the bundle is truncated (it holds no data after its header)")
        index = 0
        while True:
            following = self._next_chunk()
            yield self._open(index, current, final=following is None)
            if following is None:
                return
            current, index = following, index + 1

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record up to and including ``end``, each only after its chunk verified."""
        digest = hashlib.sha256()
        counts: dict[str, int] = {}
        pending = b""
        ended = False
        for plaintext in self._plaintext_chunks():
            if ended and plaintext:
                raise BundleError("the bundle holds data after its end record")
            lines = (pending + plaintext).split(b"\n")
            pending = lines.pop()
            for number, line in enumerate(lines):
                record = self._parse_record(line)
                kind = record["type"]
                if kind == "end":
                    self._check_end(record, digest.hexdigest(), counts)
                    if number != len(lines) - 1 or pending:
                        raise BundleError("the bundle holds data after its end record")
                    ended = True
                else:
                    digest.update(line + b"\n")
                    counts[kind] = counts.get(kind, 0) + 1
                yield record
        if not ended:
            raise BundleError("the bundle has no end record (it was not finished)")

    @staticmethod
    def _parse_record(line: bytes) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise BundleError("the bundle holds a record that is not a JSON object with a type")
        return record

    @staticmethod
    def _check_end(record: dict[str, Any], digest: str, counts: dict[str, int]) -> None:
        if record.get("sha256") != digest:
            raise BundleError("the bundle's records do not match its recorded hash")
        if record.get("counts") != counts:
            raise BundleError("the bundle's record counts do not match its end record")


def write_atomically(path: Path, fill: Callable[[IO[bytes]], T]) -> T:
    """Create ``path`` (mode 0600) from ``fill(handle)`` via a temporary file; never overwrite.

    The file appears complete or not at all; on any error the temporary file is removed.
    """
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose another name or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            result = fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails, rather than replaces, if ``path`` appeared meanwhile
    finally:
        temporary.unlink(missing_ok=True)
    return result
