"""API keys: `wk_<id>_<secret>`. Only a salted SHA-256 of the secret is stored.

A fast hash is right here: the secret carries 256 random bits, so there is nothing for a
slow KDF to protect against, and verification sits on every request's path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select

from warden.store.db import Database
from warden.store.models import ApiKey

KEY_PREFIX = "wk_"
Role = Literal["user", "admin"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the rest of the request path knows about a key."""

    key_id: str
    name: str
    role: Role
    tier: str


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    role: str
    tier: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and _aware(self.expires_at) <= datetime.now(UTC):
            return "expired"
        return "active"


class KeyNotFound(LookupError):
    pass


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if not presented.startswith(KEY_PREFIX):
        return None
    parts = presented[len(KEY_PREFIX):].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, row.tier, row.created_at, row.expires_at,
                   row.revoked_at)


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, name: str, role: Role = "user", tier: str = "default",
               expires_at: datetime | None = None) -> tuple[KeyInfo, str]:
        """Return the key's record and its full secret, which is never stored or shown again."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        row = ApiKey(id=key_id, name=name, role=role, tier=tier, salt=salt,
                     secret_hash=hash_secret(salt, secret), created_at=datetime.now(UTC),
                     expires_at=expires_at)
        with self._db.session() as session:
            session.add(row)
            session.commit()
        return _info(row), f"{KEY_PREFIX}{key_id}_{secret}"

    def list(self) -> list[KeyInfo]:
        with self._db.session() as session:
            return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]

    def revoke(self, key_id: str) -> KeyInfo:
        with self._db.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                raise KeyNotFound(key_id)
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                session.commit()
            return _info(row)

    def authenticate(self, presented: str) -> Principal | None:
        """The key's principal if it is known, active and unexpired; None otherwise."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._db.session() as session:
            row = session.get(ApiKey, key_id)
        if row is None:
            # Spend the same hashing work, so a missing id and a wrong secret look alike.
            hmac.compare_digest(hash_secret("0" * 32, secret), "0" * 64)
            return None
        if not hmac.compare_digest(hash_secret(row.salt, secret), row.secret_hash):
            return None
        info = _info(row)
        if info.status != "active":
            return None
        # The column is a plain string; anything but "admin" gets no admin rights.
        role: Role = "admin" if row.role == "admin" else "user"
        return Principal(key_id=row.id, name=row.name, role=role, tier=row.tier)
