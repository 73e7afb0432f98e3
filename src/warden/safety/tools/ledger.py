"""Used confirmation tokens: a token id is written here once, before the real execution it
authorises, so a token can never run a mutating tool twice (on any replica: the primary key
makes the second insert fail, whatever the database).

Rows are only needed until the token expires (an expired token is refused anyway), so expired
ones are pruned now and then. Table created by migrations/versions/0005_tool_tokens.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from warden.safety.tools.confirm import TokenClaims
from warden.safety.tools.errors import ToolProblem
from warden.store.db import Database
from warden.store.models import Base

_PRUNE_PROBABILITY = 0.02


class UsedToolToken(Base):
    __tablename__ = "tool_tokens_used"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    tool: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class TokenLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, claims: TokenClaims, request_id: str) -> None:
        """Mark the token used; ToolProblem 409 if it already was (a replay)."""
        now = datetime.now(UTC)
        row = UsedToolToken(token_id=claims.token_id, key_id=claims.key_id, tool=claims.tool,
                            used_at=now,
                            expires_at=datetime.fromtimestamp(claims.expires_at, UTC))
        with self._db.session() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                raise ToolProblem(409, "confirmation_token_used",
                                  "This confirmation_token was already used: a token confirms "
                                  "one execution only. Run a new dry run to confirm another.",
                                  param="confirmation_token") from exc
        if random.random() < _PRUNE_PROBABILITY:
            self.prune(now)

    def is_used(self, token_id: str) -> bool:
        with self._db.session() as session:
            return session.get(UsedToolToken, token_id) is not None

    def prune(self, now: datetime | None = None) -> int:
        # A day of slack: clocks of replicas differ, and the rows are tiny.
        cutoff = (now or datetime.now(UTC)) - timedelta(days=1)
        with self._db.session() as session:
            result = session.execute(delete(UsedToolToken)
                                     .where(UsedToolToken.expires_at < cutoff))
            session.commit()
            assert isinstance(result, CursorResult)  # a DELETE's result carries its rowcount
            return int(result.rowcount or 0)
