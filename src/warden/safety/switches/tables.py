"""Kill-switch tables; the schema is created by migrations/versions/0004_switches.py.

`switch_state` has one row per switch that was ever flipped (a switch without a row is on).
`switch_events` is the append-only history; its id orders every flip across replicas and is
the generation published to Redis, so a newer state always wins there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warden.store.models import Base


class SwitchStateRow(Base):
    __tablename__ = "switch_state"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    on: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    event_id: Mapped[int] = mapped_column(BigInteger)


class SwitchEventRow(Base):
    __tablename__ = "switch_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    on: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
