"""Audit retention must not launder tampering: purge verifies first, refuses on a broken chain,
and a forced purge keeps the break on record; the CLI refuses an accidental `0d`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warden.cli.main import app
from warden.store.audit import AuditLog, ChainBroken
from warden.store.db import Database
from warden.store.models import AuditRecord

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)


def aged_log(db: Database, old: int, new: int) -> AuditLog:
    """`old` records 100 days old, then `new` fresh ones, all with valid hashes."""
    when = iter([OLD] * old + [NOW] * new)
    clock: Callable[[], datetime] = lambda: next(when, NOW)  # noqa: E731
    audit = AuditLog(db, clock=clock)
    for i in range(old + new):
        audit.append("event", "t", {"i": i})
    return audit


def tamper(db: Database, seq: int) -> None:
    with db.session() as session:
        row = session.get(AuditRecord, seq)
        assert row is not None
        row.payload = {"i": "forged"}
        session.commit()


def test_purge_of_an_intact_chain_keeps_it_verifiable(db: Database) -> None:
    audit = aged_log(db, old=4, new=2)
    result = audit.purge(NOW - timedelta(days=90), actor="t")
    assert (result.count, result.purged_through_seq, result.recorded_break) == (4, 4, None)
    assert audit.verify() == (3, None)  # records 5, 6 and the anchor
    anchor = list(audit.export())[-1]
    assert anchor["kind"] == "audit.purge" and "chain_break" not in anchor["payload"]


def test_purge_refuses_a_tampered_chain_and_deletes_nothing(db: Database) -> None:
    audit = aged_log(db, old=4, new=2)
    tamper(db, 2)  # inside the range the purge would delete
    with pytest.raises(ChainBroken) as refused:
        audit.purge(NOW - timedelta(days=90), actor="t")
    assert refused.value.problem.seq == 2 and "modified" in refused.value.problem.problem
    assert [r["seq"] for r in audit.export()] == [1, 2, 3, 4, 5, 6]
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 2


def test_forced_purge_keeps_reporting_the_break(db: Database) -> None:
    audit = aged_log(db, old=4, new=2)
    tamper(db, 2)
    result = audit.purge(NOW - timedelta(days=90), actor="ops", record_break=True)
    assert result.count == 4 and result.recorded_break is not None
    assert result.recorded_break.seq == 2
    # The forged record is gone, yet the chain does not read "intact".
    assert 2 not in [r["seq"] for r in audit.export()]
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 2
    assert "modified" in problem.problem and "--force-record-break" in problem.problem
    assert "that ops forced" in problem.problem and "audit.purge record 7" in problem.problem


def test_a_later_purge_that_deletes_the_anchor_carries_the_break_forward(db: Database) -> None:
    audit = aged_log(db, old=4, new=2)
    tamper(db, 3)
    audit.purge(NOW - timedelta(days=90), actor="ops", record_break=True)  # anchor = 7
    with pytest.raises(ChainBroken):  # the recorded break still blocks a normal purge
        audit.purge(NOW + timedelta(days=1), actor="t")
    audit.purge(NOW + timedelta(days=1), actor="ops", record_break=True)  # deletes 5..7
    assert [r["kind"] for r in audit.export()] == ["audit.purge"]
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 3 and "audit.purge record 8" in problem.problem


def test_purging_every_record_continues_the_sequence_and_the_chain(db: Database) -> None:
    audit = aged_log(db, old=3, new=0)
    last_hash = list(audit.export())[-1]["hash"]
    assert audit.purge(NOW + timedelta(days=1), actor="t").count == 3
    (anchor,) = audit.export()
    # Not a new genesis at seq 1: the anchor is record 4 and links to the last deleted hash.
    assert (anchor["seq"], anchor["prev_hash"]) == (4, last_hash)
    assert audit.verify() == (1, None)
    assert audit.append("event", "t", {}) == 5 and audit.verify() == (2, None)


def test_editing_the_anchor_to_hide_the_break_is_detected(db: Database) -> None:
    audit = aged_log(db, old=4, new=2)
    tamper(db, 2)
    audit.purge(NOW - timedelta(days=90), actor="ops", record_break=True)
    with db.session() as session:
        anchor = session.get(AuditRecord, 7)
        assert anchor is not None
        anchor.payload = {k: v for k, v in anchor.payload.items() if k != "chain_break"}
        session.commit()
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 7 and "modified" in problem.problem


# The CLI -----------------------------------------------------------------------------------

def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "warden.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/warden.db'}}\n")
    result = CliRunner().invoke(app, ["audit", *args, "--config", str(config)])
    return result.exit_code, result.output


def test_cli_purge_refuses_a_broken_chain_and_names_the_record(db: Database,
                                                                tmp_path: Path) -> None:
    audit = aged_log(db, old=4, new=2)
    tamper(db, 2)
    code, out = run(tmp_path, "purge", "--older-than", "90d")
    assert code == 1
    assert "broken at record 2" in out and "--force-record-break" in out
    assert len(list(audit.export())) == 6
    code, out = run(tmp_path, "purge", "--older-than", "90d", "--force-record-break")
    assert code == 0 and "purged 4 records" in out and "record 2" in out
    code, out = run(tmp_path, "verify")
    assert code == 1 and "broken at record 2" in out and "intact" not in out


def test_cli_purge_needs_yes_below_one_day(db: Database, tmp_path: Path) -> None:
    audit = aged_log(db, old=0, new=3)
    for age in ("0d", "0m", "23h"):
        code, out = run(tmp_path, "purge", "--older-than", age)
        assert code == 2 and "--yes" in out, (age, out)
    assert len(list(audit.export())) == 3
    code, out = run(tmp_path, "purge", "--older-than", "0d", "--yes")
    assert code == 0 and "purged 3 records" in out
    code, out = run(tmp_path, "verify")
    assert code == 0 and "intact" in out and "1 records" in out
