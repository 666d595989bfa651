"""Ed25519 signing keys with small integer ids, one active key per purpose.

Keys live as files under a key directory (`<data_dir>/keys` by default): the private key
`<kid>.key` (PKCS#8 PEM, mode 0600) and `<kid>.json` (purpose, public key, created and
retired times). Nothing secret is in the repository: a purpose's first key is generated on
first use, and `pointsbank keys rotate` retires the active key and makes a new one.
Retired keys still verify (and are still published) until what they signed expires.

Purposes: `voucher` (QR vouchers), `ledger` (checkpoints), `statement` (settlements).
Ledger keys are also registered in the database (`ledger.key_registry`) under a global id
derived from the public key (`registry_key_id`): the registry, not the directory, says
which ledger key may seal.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.require import require

PURPOSES = ("voucher", "ledger", "statement")
KEY_ID_MAX = 0xFFFF  # key ids fit in two bytes (the voucher layout's field)
PRIVATE_KEY_MODE = 0o600
PUBLIC_KEY_BYTES = 32
REGISTRY_ID_BITS = 47   # registry ids: 2^47 + 47 bits of the key's SHA-256 (JSON-safe, never a kid)


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw public key, hex: what a person compares."""
    return hashlib.sha256(public_key).hexdigest()


def registry_key_id(public_key: bytes) -> int:
    """The key's global id in the key registry, derived from the public key alone, so
    anyone can recompute it; in [2^47, 2^48), never one of the directories' small ids."""
    require(len(public_key) == PUBLIC_KEY_BYTES, "an Ed25519 public key is 32 bytes")
    bits = int.from_bytes(hashlib.sha256(public_key).digest()[:6], "big") >> (48 - REGISTRY_ID_BITS)
    return (1 << REGISTRY_ID_BITS) | bits


PUBLIC_KEYS_LOADED_MAX = 64   # a process verifies with a handful of keys; each loaded once


@functools.lru_cache(maxsize=PUBLIC_KEYS_LOADED_MAX)
def _loaded(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _loaded(public_key).verify(signature, message)
        return True
    except InvalidSignature:
        return False


@dataclass(frozen=True)
class PublicKey:
    kid: int
    purpose: str
    public_key: bytes
    created_at: datetime
    retired_at: datetime | None

    @property
    def registry_id(self) -> int:
        return registry_key_id(self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verifies(self.public_key, message, signature)

    def as_json(self) -> dict[str, object]:
        return {"kid": self.kid, "purpose": self.purpose, "alg": "Ed25519",
                "public_key": base64.urlsafe_b64encode(self.public_key).decode().rstrip("="),
                "created_at": self.created_at.isoformat(),
                "retired_at": self.retired_at.isoformat() if self.retired_at else None}


def public_key_from_json(raw: dict[str, object]) -> PublicKey:
    text = str(raw["public_key"])
    return PublicKey(
        kid=int(raw["kid"]), purpose=str(raw["purpose"]),
        public_key=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)),
        created_at=datetime.fromisoformat(str(raw["created_at"])),
        retired_at=datetime.fromisoformat(str(raw["retired_at"])) if raw.get("retired_at") else None)


class KeyRing:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._private: dict[int, Ed25519PrivateKey] = {}
        self._public: dict[int, PublicKey] = {}
        self._load()

    # reading -----------------------------------------------------------------------------

    def public_keys(self, purpose: str | None = None) -> list[PublicKey]:
        self._load()
        return sorted((k for k in self._public.values() if purpose in (None, k.purpose)),
                      key=lambda k: k.kid)

    def public_key(self, kid: int) -> PublicKey | None:
        if kid not in self._public:
            self._load()  # another process may have rotated
        return self._public.get(kid)

    def active(self, purpose: str) -> PublicKey:
        require(purpose in PURPOSES, f"unknown key purpose {purpose!r}")
        current = [k for k in self._public.values() if k.purpose == purpose and k.retired_at is None]
        if not current:
            return self._create(purpose)
        return max(current, key=lambda k: k.kid)

    # signing -----------------------------------------------------------------------------

    def sign(self, purpose: str, message: bytes) -> tuple[int, bytes]:
        key = self.active(purpose)
        return key.kid, self._private[key.kid].sign(message)

    def sign_with(self, key: PublicKey, message: bytes) -> bytes:
        """Sign with one particular key of this directory (which the registry chose)."""
        require(key.kid in self._private, f"key {key.kid} has no private half here")
        return self._private[key.kid].sign(message)

    def reload(self) -> None:
        """Read the directory again: another process (`keys rotate`) may have changed it."""
        with self._lock:
            self._load()

    def verify(self, kid: int, message: bytes, signature: bytes, purpose: str) -> bool:
        key = self.public_key(kid)
        return key is not None and key.purpose == purpose and key.verify(message, signature)

    def rotate(self, purpose: str) -> PublicKey:
        with self._lock:
            now = datetime.now(timezone.utc)
            for key in list(self._public.values()):
                if key.purpose == purpose and key.retired_at is None:
                    retired = PublicKey(key.kid, key.purpose, key.public_key, key.created_at, now)
                    self._write_meta(retired)
                    self._public[key.kid] = retired
        return self._create(purpose)

    # files -------------------------------------------------------------------------------

    def _create(self, purpose: str) -> PublicKey:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._load()
            kid = max(self._public, default=0) + 1
            require(kid <= KEY_ID_MAX, "key ids are exhausted")
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            path = self.directory / f"{kid}.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            public = PublicKey(kid, purpose, private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw),
                datetime.now(timezone.utc), None)
            self._write_meta(public)
            self._private[kid] = private
            self._public[kid] = public
            return public

    def _write_meta(self, key: PublicKey) -> None:
        path = self.directory / f"{key.kid}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(key.as_json(), indent=2))
        temporary.replace(path)

    def _load(self) -> None:
        if not self.directory.is_dir():
            return
        for meta_path in self.directory.glob("*.json"):
            key = public_key_from_json(json.loads(meta_path.read_text()))
            self._public[key.kid] = key
            key_path = self.directory / f"{key.kid}.key"
            if key.kid not in self._private and key_path.exists():
                loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                require(isinstance(loaded, Ed25519PrivateKey), f"key {key.kid} is not Ed25519")
                self._private[key.kid] = loaded  # type: ignore[assignment]
