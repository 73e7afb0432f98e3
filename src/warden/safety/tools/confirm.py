"""Confirmation tokens: proof that a mutating call's exact arguments went through a dry run.

    wct1.<payload>.<mac>        payload = base64url(JSON claims), mac = base64url(HMAC-SHA256)

The claims bind the token to the API key id, the tool name, the SHA-256 of the canonical
arguments, the SHA-256 of the dry-run result that was shown, a random token id (for
single use, see ledger.py) and an expiry. The MAC covers the exact payload text, and the
presented MAC is compared with the expected one as text, so changing any byte of a token
(even a base64 padding bit) makes it invalid.

The secret comes from $WARDEN_TOOL_TOKEN_SECRET (set the same value on every replica), or is
generated once and kept in <data_dir>/secrets/tool_token.key (mode 0600). It is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from warden.safety.tools.arguments import sha256_of
from warden.safety.tools.errors import ToolProblem

TOKEN_PREFIX = "wct1"
SECRET_ENV = "WARDEN_TOOL_TOKEN_SECRET"
MIN_SECRET_CHARS = 32
_DRY_RUN_AGAIN = ("Run a dry run again (POST without confirmation_token) and confirm with the "
                  "token it returns.")


@dataclass(frozen=True)
class TokenClaims:
    token_id: str
    key_id: str
    tool: str
    arguments_sha256: str
    result_sha256: str
    expires_at: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(status: int, code: str, message: str) -> ToolProblem:
    return ToolProblem(status, code, message, param="confirmation_token")


class ConfirmationTokens:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the tool token secret must be at least {MIN_SECRET_CHARS} bytes")
        self._secret = secret
        self._clock = clock

    def _mac(self, signed: str) -> str:
        return _b64(hmac.new(self._secret, signed.encode("ascii"), hashlib.sha256).digest())

    def issue(self, *, key_id: str, tool: str, arguments: Mapping[str, Any],
              dry_run_result: Any, ttl_s: int) -> tuple[str, TokenClaims]:
        claims = TokenClaims(token_id=secrets.token_hex(16), key_id=key_id, tool=tool,
                             arguments_sha256=sha256_of(arguments),
                             result_sha256=sha256_of(dry_run_result),
                             expires_at=int(self._clock()) + ttl_s)
        payload = _b64(json.dumps(asdict(claims), sort_keys=True,
                                  separators=(",", ":")).encode("utf-8"))
        signed = f"{TOKEN_PREFIX}.{payload}"
        return f"{signed}.{self._mac(signed)}", claims

    def verify(self, token: str, *, key_id: str, tool: str,
               arguments: Mapping[str, Any]) -> TokenClaims:
        """The token's claims if it confirms exactly this call; ToolProblem otherwise.

        Checked in this order, so the message names the first real problem: authenticity,
        key, tool, expiry, arguments. Single use is the ledger's job (after this passes).
        """
        claims = self._authentic(token)
        if not hmac.compare_digest(claims.key_id, key_id):
            raise _refused(403, "confirmation_token_wrong_key",
                           "This confirmation_token was issued to another API key; a token "
                           "only confirms calls made with the key that ran the dry run.")
        if claims.tool != tool:
            raise _refused(403, "confirmation_token_wrong_tool",
                           f"This confirmation_token was issued for the tool '{claims.tool}', "
                           f"not '{tool}'. {_DRY_RUN_AGAIN}")
        if self._clock() >= claims.expires_at:
            raise _refused(403, "confirmation_token_expired",
                           f"The confirmation_token expired. {_DRY_RUN_AGAIN}")
        if not hmac.compare_digest(claims.arguments_sha256, sha256_of(arguments)):
            raise _refused(409, "confirmation_arguments_changed",
                           "The arguments differ from the ones this confirmation_token's dry "
                           "run was made with, so the token does not confirm them. Send "
                           "exactly the dry-run arguments, or dry-run the new arguments and "
                           "confirm with the new token.")
        return claims

    def _authentic(self, token: str) -> TokenClaims:
        invalid = _refused(403, "confirmation_token_invalid",
                           f"The confirmation_token is malformed or was altered. "
                           f"{_DRY_RUN_AGAIN}")
        if not isinstance(token, str) or not token.isascii():
            raise invalid
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise invalid
        signed = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._mac(signed), parts[2]):
            raise invalid
        try:
            raw = json.loads(_unb64(parts[1]))
            return TokenClaims(**raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            # Authentic but unreadable can only mean a format change across versions.
            raise invalid from exc


def load_secret(data_dir: str | Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC secret: $WARDEN_TOOL_TOKEN_SECRET, else <data_dir>/secrets/tool_token.key,
    created (0600) on first use. Replicas must share it: set the variable for them."""
    environ = os.environ if environ is None else environ
    configured = environ.get(SECRET_ENV, "")
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters "
                             "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
        return configured.encode("utf-8")
    path = Path(data_dir) / "secrets" / "tool_token.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes().strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"{path} holds a secret shorter than {MIN_SECRET_CHARS} bytes; "
                             "delete it to generate a new one (outstanding tokens become "
                             "invalid)") from None
        return secret
    with os.fdopen(fd, "wb") as out:
        secret = secrets.token_hex(32).encode("ascii")
        out.write(secret + b"\n")
    return secret
