"""DSSE envelopes (the in-toto signing wrapper) signed with ed25519 when the `cryptography`
package is installed, else with HMAC-SHA256 over a shared secret.

Key files, from the operator (WARDEN_SIGNING_KEY names one):
- ed25519: a PKCS#8 PEM private key to sign; the private key or its PEM public key to verify.
- HMAC-SHA256: a secret of at least 32 bytes, written as hex (what `keygen` writes) or raw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAYLOAD_TYPE = "application/vnd.in-toto+json"
_MIN_SECRET_BYTES = 32


class SigningError(Exception):
    """A key that cannot be used, or a signature that does not verify; the message says why."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def ed25519_available() -> bool:
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Key:
    kind: str                                   # "ed25519" or "hmac-sha256"
    keyid: str
    sign: Callable[[bytes], bytes] | None       # None for a public key
    verify: Callable[[bytes, bytes], bool]


def _hmac_key(secret: bytes) -> Key:
    if len(secret) < _MIN_SECRET_BYTES:
        raise SigningError(f"the HMAC secret has {len(secret)} bytes; use at least "
                           f"{_MIN_SECRET_BYTES} (`python -m deploy.release keygen` writes one)")
    keyid = "hmac-sha256:" + hashlib.sha256(b"warden-release-keyid:" + secret).hexdigest()[:32]

    def sign(data: bytes) -> bytes:
        return hmac.new(secret, data, hashlib.sha256).digest()

    return Key("hmac-sha256", keyid, sign, lambda data, sig: hmac.compare_digest(sign(data), sig))


def _ed25519_key(pem: bytes) -> Key:
    if not ed25519_available():
        raise SigningError("this key is an ed25519 PEM key, but the `cryptography` package is "
                           "not installed in this environment: install it, or use an HMAC key")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private: ed25519.Ed25519PrivateKey | None = None
    if b"PRIVATE KEY" in pem:
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise SigningError("the PEM private key is not an ed25519 key")
        private, public = loaded, loaded.public_key()
    else:
        loaded_public = serialization.load_pem_public_key(pem)
        if not isinstance(loaded_public, ed25519.Ed25519PublicKey):
            raise SigningError("the PEM public key is not an ed25519 key")
        public = loaded_public
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def verify(data: bytes, sig: bytes) -> bool:
        try:
            public.verify(sig, data)
        except InvalidSignature:
            return False
        return True

    return Key("ed25519", "ed25519:" + hashlib.sha256(raw).hexdigest()[:32],
               private.sign if private is not None else None, verify)


def load_key(path: Path) -> Key:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the signing key {path}: {exc.strerror}") from exc
    if data.lstrip().startswith(b"-----BEGIN"):
        return _ed25519_key(data)
    text = data.strip()
    try:
        secret = bytes.fromhex(text.decode())
    except (UnicodeDecodeError, ValueError):
        secret = data
    return _hmac_key(secret)


def generate_key(path: Path, kind: str) -> Path | None:
    """Write a new private key (mode 0600); for ed25519 also `<path>.pub`, which is returned."""
    if path.exists():
        raise SigningError(f"{path} exists; refusing to overwrite a key")
    if kind == "ed25519":
        if not ed25519_available():
            raise SigningError("ed25519 needs the `cryptography` package; use --kind hmac")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        private = ed25519.Ed25519PrivateKey.generate()
        secret = private.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        secret, public = (secrets.token_hex(32) + "\n").encode(), b""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secret)
    if not public:
        return None
    public_path = path.with_name(path.name + ".pub")
    public_path.write_bytes(public)
    return public_path


def sign_envelope(payload: bytes, key: Key, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    if key.sign is None:
        raise SigningError("a public key cannot sign: give the private key")
    signature = key.sign(pae(payload_type, payload))
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(signature).decode()}]}


def open_envelope(envelope: dict[str, Any], key: Key) -> bytes:
    """The payload, if one signature by this key verifies; else SigningError."""
    try:
        payload_type = envelope["payloadType"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SigningError(f"not a DSSE envelope: {exc}") from exc
    message = pae(payload_type, payload)
    for entry in signatures:
        if entry.get("keyid") not in (key.keyid, None, ""):
            continue
        try:
            signature = base64.b64decode(entry["sig"], validate=True)
        except (KeyError, ValueError):
            continue
        if key.verify(message, signature):
            return payload
    raise SigningError(f"no signature in the envelope verifies with key {key.keyid} "
                       f"({key.kind}): the statement was altered or signed with another key")
