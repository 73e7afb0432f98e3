from datetime import UTC, datetime, timedelta

import pytest

from warden.store.audit import AuditLog
from warden.store.keys import KeyNotFound, KeyStore, parse_key
from warden.store.models import ApiKey


def test_secret_is_shown_once_and_stored_hashed(db) -> None:
    store = KeyStore(db)
    info, secret = store.create("alice", "user", "default")
    assert secret.startswith("wk_") and info.id in secret
    with db.session() as s:
        row = s.get(ApiKey, info.id)
    _, raw = parse_key(secret)
    assert raw not in (row.secret_hash, row.salt)
    assert store.authenticate(secret).name == "alice"


def test_wrong_unknown_malformed_revoked_and_expired_keys_fail(db) -> None:
    store = KeyStore(db)
    info, secret = store.create("bob")
    assert store.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.authenticate("wk_000000000000_nope") is None
    assert store.authenticate("sk-something") is None
    assert store.authenticate("wk_") is None
    store.revoke(info.id)
    assert store.authenticate(secret) is None
    _, old = store.create("carol", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert store.authenticate(old) is None
    with pytest.raises(KeyNotFound):
        store.revoke("missing")


def test_list_reports_status(db) -> None:
    store = KeyStore(db)
    a, _ = store.create("a")
    store.create("b", role="admin", tier="pro")
    store.revoke(a.id)
    statuses = {k.name: (k.status, k.role, k.tier) for k in store.list()}
    assert statuses == {"a": ("revoked", "user", "default"), "b": ("active", "admin", "pro")}


def test_audit_chain_detects_tampering(db) -> None:
    audit = AuditLog(db)
    for i in range(5):
        audit.append("key.create", "cli", {"key_id": f"k{i}"})
    assert audit.verify() == (5, None)
    with db.session() as s:
        from warden.store.models import AuditRecord

        row = s.get(AuditRecord, 3)
        row.payload = {"key_id": "forged"}
        s.commit()
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 3


def test_deleting_the_oldest_records_without_a_purge_is_detected(db) -> None:
    from warden.store.models import AuditRecord

    audit = AuditLog(db)
    for i in range(4):
        audit.append("event", "t", {"i": i})
    with db.session() as s:
        s.query(AuditRecord).filter(AuditRecord.seq <= 2).delete()
        s.commit()
    _checked, problem = audit.verify()
    assert problem is not None and problem.seq == 3 and "missing" in problem.problem
