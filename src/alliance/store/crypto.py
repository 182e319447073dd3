"""Field encryption for free text at rest (AES-256-GCM, key id stored with every value).

A stored value looks like ``enc1:<key id>:<base64url(nonce || ciphertext+tag)>``. The first key
in ``ALLIANCE_ENCRYPTION_KEYS`` encrypts; every listed key decrypts, so keys rotate by putting
the new key first and keeping the old one until :func:`rotate_value` has rewritten old values.
The field name is bound as associated data, so a ciphertext copied into another column fails to
decrypt instead of being shown in the wrong place.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alliance.config import parse_encryption_keys

PREFIX = "enc1"
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A stored value cannot be decrypted (unknown key id, tampering, wrong field)."""


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts and decrypts single text fields. Build it with :meth:`from_setting`."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_setting(cls, encryption_keys: str) -> FieldCipher:
        """From the ``ALLIANCE_ENCRYPTION_KEYS`` value (``id:base64key,...``; first encrypts)."""
        return cls(tuple(parse_encryption_keys(encryption_keys).items()))

    @property
    def active_key_id(self) -> str:
        return self.keys[0][0]

    def encrypt(self, plaintext: str, *, field: str) -> str:
        key_id, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), field.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{PREFIX}:{key_id}:{body}"

    def decrypt(self, stored: str, *, field: str) -> str:
        prefix, key_id, body = _split(stored)
        if prefix != PREFIX:
            raise DecryptionError(f"{field}: not an encrypted value")
        key = dict(self.keys).get(key_id)
        if key is None:
            raise DecryptionError(f"{field}: encrypted with unknown key id {key_id!r}")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"{field}: value fails authentication") from exc
        return plain.decode("utf-8")

    def seal_bytes(self, data: bytes, *, field: str) -> bytes:
        """A whole file encrypted (an export kept on the server): ``enc1:<key id>:`` then the
        nonce and the ciphertext with its tag, raw; ``field`` is bound as for text fields."""
        key_id, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, data, field.encode("utf-8"))
        return f"{PREFIX}:{key_id}:".encode("ascii") + nonce + sealed

    def open_bytes(self, stored: bytes, *, field: str) -> bytes:
        """The bytes :meth:`seal_bytes` sealed; :class:`DecryptionError` when the key is not
        configured any more, the data was changed, or it was sealed for another field."""
        prefix, _, rest = stored.partition(b":")
        key_id, sep, raw = rest.partition(b":")
        if prefix != PREFIX.encode("ascii") or not sep:
            raise DecryptionError(f"{field}: not an encrypted file")
        key = dict(self.keys).get(key_id.decode("ascii", "replace"))
        if key is None:
            raise DecryptionError(f"{field}: encrypted with unknown key id {key_id.decode()!r}")
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"{field}: file fails authentication") from exc

    def encrypt_optional(self, plaintext: str | None, *, field: str) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, field=field)

    def decrypt_optional(self, stored: str | None, *, field: str) -> str | None:
        return None if stored is None else self.decrypt(stored, field=field)

    def key_id_of(self, stored: str) -> str:
        """Which key encrypted ``stored`` (for rotation reports)."""
        return _split(stored)[1]

    def rotate_value(self, stored: str, *, field: str) -> str:
        """Re-encrypt ``stored`` with the active key (unchanged when it already uses it)."""
        if self.key_id_of(stored) == self.active_key_id:
            return stored
        return self.encrypt(self.decrypt(stored, field=field), field=field)


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _split(stored: str) -> tuple[str, str, str]:
    parts = stored.split(":", 2)
    if len(parts) != 3:
        raise DecryptionError("not an encrypted value")
    return parts[0], parts[1], parts[2]
