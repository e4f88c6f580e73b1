"""The sealed bundle format: real X25519, HKDF and AES-GCM; every way a file can go wrong."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.crypto import KeyFileError
from vault.transfer.bundle import MAGIC, BundleError, BundleReader, BundleWriter, write_atomically
from vault.transfer.keys import (
    create_transfer_key,
    load_transfer_private_key,
    load_transfer_public_key,
)

SECRET = "KOWALCZYK^INGRID"
RECORDS: list[dict[str, Any]] = [
    {"type": "manifest", "trial": "T1"},
    *(
        {"type": "mapping", "original": f"{SECRET}-{i:04d}", "pseudonym": f"P{i}"}
        for i in range(40)
    ),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("transfer") / "keys"
    create_transfer_key(directory)
    return directory


def _seal(keys: Path, chunk_bytes: int = 256, records: list[dict[str, Any]] = RECORDS) -> bytes:
    target = io.BytesIO()
    writer = BundleWriter(target, load_transfer_public_key(keys / "transfer.pub"), chunk_bytes)
    for record in records:
        writer.write(record)
    digest = writer.finish()
    data = target.getvalue()
    assert hashlib.sha256(data).hexdigest() == digest
    return data


def _open(keys: Path, data: bytes, key_file: str = "transfer.key") -> list[dict[str, Any]]:
    reader = BundleReader(io.BytesIO(data), load_transfer_private_key(keys / key_file))
    return list(reader.records())


def _header_end(data: bytes) -> int:
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    return len(MAGIC) + 4 + length


def _chunk_ends(data: bytes) -> list[int]:
    ends, position = [], _header_end(data)
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        position += 4 + length
        ends.append(position)
    return ends


def test_transfer_keys_are_written_private_and_never_overwritten(keys: Path) -> None:
    assert stat.S_IMODE((keys / "transfer.key").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in (keys / "transfer.key").read_bytes()
    assert b"PUBLIC KEY" in (keys / "transfer.pub").read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        create_transfer_key(keys)
    with pytest.raises(KeyFileError, match="is a private key; name the receiving vault's"):
        load_transfer_public_key(keys / "transfer.key")
    (keys.parent / "signing.pub").write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="not a transfer public key"):
        load_transfer_public_key(keys.parent / "signing.pub")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_transfer_private_key(keys / "missing.key")


def test_a_world_readable_private_key_is_refused(tmp_path: Path) -> None:
    create_transfer_key(tmp_path)
    (tmp_path / "transfer.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_transfer_private_key(tmp_path / "transfer.key")


def test_records_round_trip_in_many_chunks_and_no_plaintext_is_stored(keys: Path) -> None:
    data = _seal(keys)
    assert len(_chunk_ends(data)) > 5
    opened = _open(keys, data)
    assert opened[:-1] == RECORDS
    end = opened[-1]
    assert end["type"] == "end"
    assert end["counts"] == {"manifest": 1, "mapping": 40}
    assert SECRET.encode() not in data and b"INGRID" not in data and b"mapping" not in data
    header = json.loads(data[len(MAGIC) + 4 : _header_end(data)])
    assert set(header) == {
        "format", "version", "suite", "ephemeral_public_key", "salt", "recipient_key_id",
        "chunk_bytes",
    }  # fmt: skip
    # A fresh ephemeral key and salt each time: the same records never seal alike.
    assert _seal(keys)[_header_end(data) :] != data[_header_end(data) :]


def test_every_flipped_byte_is_refused(keys: Path) -> None:
    data = _seal(keys, chunk_bytes=512)
    for position in range(0, len(data), 7):
        altered = bytearray(data)
        altered[position] ^= 0x01
        with pytest.raises(BundleError):
            _open(keys, bytes(altered))


def test_a_bundle_cut_anywhere_is_refused(keys: Path) -> None:
    data = _seal(keys, chunk_bytes=512)
    ends = _chunk_ends(data)
    for cut in [*ends[:-1], *range(_header_end(data) - 3, len(data), 97)]:
        with pytest.raises(BundleError) as refused:
            _open(keys, data[:cut])
        if cut in ends:
            # A cut at a chunk boundary is told apart from an alteration.
            assert "truncated" in str(refused.value)
    with pytest.raises(BundleError, match="truncated"):
        _open(keys, data[: ends[2]])


def test_reordered_dropped_or_appended_chunks_are_refused(keys: Path) -> None:
    data = _seal(keys, chunk_bytes=512)
    head, ends = _header_end(data), _chunk_ends(data)
    starts = [head, *ends[:-1]]
    chunks = [data[s:e] for s, e in zip(starts, ends, strict=True)]
    swapped = data[:head] + chunks[1] + chunks[0] + b"".join(chunks[2:])
    dropped = data[:head] + chunks[0] + b"".join(chunks[2:])
    repeated = data[:head] + chunks[0] + b"".join(chunks)
    for bad in (swapped, dropped, repeated, data + chunks[-1], data + b"\x00"):
        with pytest.raises(BundleError, match=r"altered|truncated|damaged"):
            _open(keys, bad)


def test_the_wrong_key_and_a_newer_format_are_refused_with_clear_messages(
    keys: Path, tmp_path: Path
) -> None:
    data = _seal(keys)
    create_transfer_key(tmp_path)
    with pytest.raises(BundleError, match=r"sealed to transfer key \w+, not to this private key"):
        BundleReader(io.BytesIO(data), load_transfer_private_key(tmp_path / "transfer.key"))
    header = json.loads(data[len(MAGIC) + 4 : _header_end(data)])
    header["version"] = 2
    newer = json.dumps(header).encode()
    bundle = MAGIC + struct.pack(">I", len(newer)) + newer + data[_header_end(data) :]
    with pytest.raises(BundleError, match="format version 2, newer than"):
        _open(keys, bundle)
    with pytest.raises(BundleError, match="not a deid-vault trial bundle"):
        _open(keys, b"PK\x03\x04" + data)
    with pytest.raises(BundleError, match="truncated"):
        _open(keys, data[: _header_end(data)])


def test_records_after_the_end_or_a_missing_end_are_refused(keys: Path) -> None:
    recipient = load_transfer_public_key(keys / "transfer.pub")
    target = io.BytesIO()
    writer = BundleWriter(target, recipient)
    writer.write({"type": "manifest"})
    writer.finish()
    # A writer that seals a record after its end record (a forged but authentic bundle).
    forged = io.BytesIO()
    writer = BundleWriter(forged, recipient)
    writer.write({"type": "end", "counts": {}, "sha256": hashlib.sha256().hexdigest()})
    writer.write({"type": "mapping"})
    writer.finish()
    with pytest.raises(BundleError, match="after its end record"):
        _open(keys, forged.getvalue())
    assert [r["type"] for r in _open(keys, target.getvalue())] == ["manifest", "end"]


def test_bundle_files_appear_whole_with_mode_0600_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "out" / "trial.bundle"
    assert write_atomically(path, lambda handle: handle.write(b"sealed")) == 6
    assert path.read_bytes() == b"sealed" and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError, match="already exists"):
        write_atomically(path, lambda handle: handle.write(b"other"))

    def fail(handle: Any) -> None:
        handle.write(b"half")
        raise RuntimeError("the export failed")

    with pytest.raises(RuntimeError):
        write_atomically(tmp_path / "out" / "failed.bundle", fail)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["trial.bundle"]
