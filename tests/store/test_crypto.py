"""Field encryption: AES-GCM with the key id stored, so keys can rotate."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.store.crypto import DecryptionError, FieldCipher

OLD = "old:" + base64.urlsafe_b64encode(b"o" * 32).decode()
NEW = "new:" + base64.urlsafe_b64encode(b"n" * 32).decode()


@given(st.text(max_size=300))
def test_it_round_trips_any_text(text: str) -> None:
    cipher = FieldCipher.from_setting(OLD)
    stored = cipher.encrypt(text, field="goals.text")
    assert cipher.decrypt(stored, field="goals.text") == text


def test_the_same_text_encrypts_differently_each_time() -> None:
    cipher = FieldCipher.from_setting(OLD)
    one = cipher.encrypt("I feel stuck", field="f")
    two = cipher.encrypt("I feel stuck", field="f")
    assert one != two
    assert "stuck" not in one


def test_after_rotation_old_values_still_decrypt_and_new_ones_use_the_new_key() -> None:
    before = FieldCipher.from_setting(OLD)
    stored = before.encrypt("my goal", field="goals.text")
    after = FieldCipher.from_setting(f"{NEW},{OLD}")
    assert after.decrypt(stored, field="goals.text") == "my goal"
    assert after.key_id_of(stored) == "old"
    fresh = after.encrypt("another goal", field="goals.text")
    assert after.key_id_of(fresh) == "new"
    rotated = after.rotate_value(stored, field="goals.text")
    assert after.key_id_of(rotated) == "new"
    assert FieldCipher.from_setting(NEW).decrypt(rotated, field="goals.text") == "my goal"


def test_a_value_for_a_dropped_key_names_the_key() -> None:
    stored = FieldCipher.from_setting(OLD).encrypt("x", field="f")
    with pytest.raises(DecryptionError, match="unknown key id 'old'"):
        FieldCipher.from_setting(NEW).decrypt(stored, field="f")


def test_a_value_moved_to_another_column_or_tampered_with_fails() -> None:
    cipher = FieldCipher.from_setting(OLD)
    stored = cipher.encrypt("note", field="alerts.acknowledge_note")
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, field="goals.text")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(flipped, field="alerts.acknowledge_note")


@given(st.binary(max_size=2000))
def test_a_file_seals_and_opens_whole(data: bytes) -> None:
    cipher = FieldCipher.from_setting(OLD)
    sealed = cipher.seal_bytes(data, field="export_jobs.file:1")
    assert sealed.startswith(b"enc1:old:")
    assert cipher.open_bytes(sealed, field="export_jobs.file:1") == data


def test_a_sealed_file_refuses_another_field_a_change_and_a_dropped_key() -> None:
    cipher = FieldCipher.from_setting(OLD)
    sealed = cipher.seal_bytes(b"client,phq9\nTina,12\n", field="export_jobs.file:1")
    assert b"Tina" not in sealed
    with pytest.raises(DecryptionError, match="fails authentication"):
        cipher.open_bytes(sealed, field="export_jobs.file:2")
    with pytest.raises(DecryptionError, match="fails authentication"):
        cipher.open_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]), field="export_jobs.file:1")
    with pytest.raises(DecryptionError, match="unknown key id 'old'"):
        FieldCipher.from_setting(NEW).open_bytes(sealed, field="export_jobs.file:1")
    with pytest.raises(DecryptionError, match="not an encrypted file"):
        cipher.open_bytes(b"PK\x03\x04 a plain zip", field="export_jobs.file:1")
