import stat

import pytest

from vault.crypto import (
    Barrier,
    DecryptionError,
    KeyFileError,
    KeyPaths,
    KeyUnavailableError,
    LocalKeyRingProvider,
    Sealed,
    SecretBytes,
    add_master_key_version,
    generate_keys,
    load_audit_signing_key,
    load_index_key,
    load_master_key_ring,
    normalize,
)
from vault.crypto.barrier import WrappedDataKey


@pytest.fixture
def key_paths(tmp_path):
    paths = KeyPaths.in_directory(tmp_path / "keys")
    generate_keys(paths)
    return paths


def _barrier(paths: KeyPaths) -> Barrier:
    return Barrier(LocalKeyRingProvider(paths.master), load_index_key(paths.index))


def _cipher(barrier, keys: dict[int, WrappedDataKey], salt=b"s" * 32, trial="T1", current=1):
    return barrier.cipher(trial, salt, current, keys.get)


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("FULL_NAME", "DOE^JOHN", "  Doe^John^^ \x00"),
        ("FULL_NAME", "Doe^John=", "DOE^JOHN"),
        ("SURNAME", "Müller", "MU\u0308LLER"),  # NFC + casefold
        ("ID_ALPHANUMERICAL", "AB  12 ", "AB 12"),
        ("ID_NUMERICAL", "\x00123\x00", "123"),
    ],
)
def test_normalization_joins_spellings_of_one_value(kind, a, b):
    assert normalize(kind, a) == normalize(kind, b)


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("ID_ALPHANUMERICAL", "ab12", "AB12"),  # IDs keep their case
        ("UID", "1.2.3", "1.2.3\x00"),  # UIDs verbatim
        ("FULL_NAME", "Doe^John", "Doe^Jon"),
    ],
)
def test_normalization_keeps_different_values_apart(kind, a, b):
    assert normalize(kind, a) != normalize(kind, b)


def test_generated_keys_are_private_and_not_overwritten(key_paths):
    for path in (key_paths.master, key_paths.index, key_paths.audit_signing):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_paths.audit_public.exists()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_keys(key_paths)


def test_bad_key_files_are_refused(tmp_path, key_paths):
    key_paths.index.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_index_key(key_paths.index)
    load_index_key(key_paths.index, development=True)  # development mode allows it
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"")
    empty.chmod(0o600)
    with pytest.raises(KeyFileError, match="empty"):
        load_index_key(empty)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_index_key(tmp_path / "missing.key")
    placeholder = tmp_path / "placeholder.key"
    placeholder.write_text("changethis\n")
    placeholder.chmod(0o600)
    with pytest.raises(KeyFileError, match="placeholder"):
        load_index_key(placeholder)
    zeros = tmp_path / "zeros.key"
    zeros.write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    zeros.chmod(0o600)
    with pytest.raises(KeyFileError, match="placeholder"):
        load_index_key(zeros)
    with pytest.raises(KeyFileError, match="not a PEM"):
        load_audit_signing_key(key_paths.master)
    with pytest.raises(KeyFileError, match="master key ring"):
        load_master_key_ring(key_paths.audit_signing)


def test_secrets_are_masked(key_paths):
    key = load_index_key(key_paths.index)
    assert "*" in repr(key) and key.reveal().hex() not in repr(key) + str(key)
    assert SecretBytes(b"abc") == SecretBytes(b"abc")
    assert "LocalKeyRingProvider" in repr(_barrier(key_paths))


def test_encrypt_decrypt_is_bound_to_context(key_paths):
    barrier = _barrier(key_paths)
    keys = {1: barrier.new_data_key("T1", 1)}
    cipher = _cipher(barrier, keys)
    context = {"kind": "FULL_NAME", "blind_index": "ab"}
    sealed = cipher.encrypt("Doe^John", context)
    assert b"Doe" not in sealed.ciphertext
    assert cipher.decrypt(sealed, context) == "Doe^John"
    # Random nonces: the same value never seals to the same bytes.
    assert cipher.encrypt("Doe^John", context).ciphertext != sealed.ciphertext
    with pytest.raises(DecryptionError, match="failed authentication"):
        cipher.decrypt(sealed, {"kind": "FULL_NAME", "blind_index": "ac"})
    with pytest.raises(DecryptionError, match="failed to unwrap"):
        _cipher(barrier, keys, trial="T2").decrypt(sealed, context)
    tampered = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1])
    with pytest.raises(DecryptionError, match="failed authentication"):
        cipher.decrypt(type(sealed)(1, tampered), context)


def test_rows_are_sealed_with_the_associated_data_they_always_had(key_paths):
    """The cipher builds each row's associated data; stored rows and bundles stay readable."""
    barrier = _barrier(key_paths)
    cipher = _cipher(barrier, {1: barrier.new_data_key("T1", 1)})
    index = bytes.fromhex("00ff10")
    # The literal contexts rows were sealed with before the cipher built them itself.
    mapping = {"table": "mappings", "kind": "FULL_NAME", "blind_index": "00ff10"}
    patient = {"table": "subjects", "field": "patient_key", "blind_index": "00ff10"}
    offset = {"table": "subjects", "field": "date_offset", "blind_index": "00ff10"}
    assert cipher.open_original("FULL_NAME", index, cipher.encrypt("Doe^John", mapping)) == (
        "Doe^John"
    )
    assert cipher.decrypt(cipher.seal_original("FULL_NAME", index, "Doe^John"), mapping) == (
        "Doe^John"
    )
    assert cipher.open_patient_key(index, cipher.encrypt("MRN-1", patient)) == "MRN-1"
    assert cipher.open_date_offset(index, cipher.encrypt("-42", offset)) == -42
    subject = cipher.seal_subject(index, "MRN-1", -42)
    assert subject.key_version == 1
    assert cipher.decrypt(Sealed(1, subject.patient_key), patient) == "MRN-1"
    assert cipher.decrypt(Sealed(1, subject.date_offset), offset) == "-42"
    # A ciphertext moved to another row, kind or field does not open.
    sealed = cipher.seal_original("FULL_NAME", index, "Doe^John")
    with pytest.raises(DecryptionError):
        cipher.open_original("SURNAME", index, sealed)
    with pytest.raises(DecryptionError):
        cipher.open_original("FULL_NAME", b"\x00\xff\x11", sealed)
    with pytest.raises(DecryptionError):
        cipher.open_patient_key(index, Sealed(1, subject.date_offset))


def test_blind_index_is_keyed_per_trial_and_normalized(key_paths):
    barrier = _barrier(key_paths)
    a = _cipher(barrier, {}, salt=b"a" * 32)
    b = _cipher(barrier, {}, salt=b"b" * 32)
    assert a.blind_index("FULL_NAME", "DOE^JOHN") == a.blind_index("FULL_NAME", "Doe^John^")
    assert a.blind_index("FULL_NAME", "DOE^JOHN") != b.blind_index("FULL_NAME", "DOE^JOHN")
    assert a.blind_index("FULL_NAME", "X") != a.blind_index("SURNAME", "X")
    other_index_key = KeyPaths.in_directory(key_paths.master.parent.parent / "other")
    generate_keys(other_index_key)
    c = _cipher(_barrier(other_index_key), {}, salt=b"a" * 32)
    assert a.blind_index("FULL_NAME", "DOE^JOHN") != c.blind_index("FULL_NAME", "DOE^JOHN")
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        _cipher(barrier, {}, salt=None).blind_index("FULL_NAME", "DOE^JOHN")


def test_master_rotation_rewraps_and_old_ciphertexts_stay_readable(key_paths):
    barrier = _barrier(key_paths)
    old = barrier.new_data_key("T1", 1)
    sealed = _cipher(barrier, {1: old}).encrypt("secret-id", {"kind": "X"})
    assert add_master_key_version(key_paths.master) == 2
    assert stat.S_IMODE(key_paths.master.stat().st_mode) == 0o600
    fresh = _barrier(key_paths)
    rewrapped = fresh.rewrap("T1", old)
    assert rewrapped.master_version == 2 and rewrapped.wrapped != old.wrapped
    assert _cipher(fresh, {1: rewrapped}).decrypt(sealed, {"kind": "X"}) == "secret-id"
    assert _cipher(fresh, {1: old}).decrypt(sealed, {"kind": "X"}) == "secret-id"
    # A running barrier picks up the new ring version when it meets it.
    assert _cipher(barrier, {1: rewrapped}).decrypt(sealed, {"kind": "X"}) == "secret-id"


def test_data_key_versions_and_destroyed_keys(key_paths):
    barrier = _barrier(key_paths)
    keys = {1: barrier.new_data_key("T1", 1)}
    sealed_v1 = _cipher(barrier, keys).encrypt("a", {})
    keys[2] = barrier.new_data_key("T1", 2)
    cipher = _cipher(barrier, keys, current=2)
    sealed_v2 = cipher.encrypt("b", {})
    assert sealed_v2.key_version == 2
    assert cipher.decrypt(sealed_v1, {}) == "a" and cipher.decrypt(sealed_v2, {}) == "b"
    barrier.forget("T1")
    with pytest.raises(DecryptionError, match="does not exist"):
        _cipher(barrier, {}).decrypt(sealed_v1, {})


def test_wrapped_data_key_is_bound_to_its_trial(key_paths):
    barrier = _barrier(key_paths)
    wrapped = barrier.new_data_key("T1", 1)
    with pytest.raises(KeyUnavailableError, match="failed to unwrap"):
        _cipher(barrier, {1: wrapped}, trial="T2").encrypt("x", {})
