from dataclasses import replace

from warden.store.hashchain import GENESIS, ChainRecord, link_hash, verify


def build(n: int) -> list[ChainRecord]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        body = {"seq": seq, "kind": "k", "payload": {"i": seq}}
        h = link_hash(prev, body)
        records.append(ChainRecord(seq, body, prev, h))
        prev = h
    return records


def test_intact_chain_verifies() -> None:
    assert verify(build(10)) is None
    assert verify([]) is None


def test_modified_record_is_named() -> None:
    chain = build(10)
    chain[4] = replace(chain[4], body={**chain[4].body, "payload": {"i": 999}})
    problem = verify(chain)
    assert problem is not None and problem.seq == 5 and "modified" in problem.problem


def test_deleted_record_is_named() -> None:
    chain = build(10)
    del chain[6]
    problem = verify(chain)
    assert problem is not None and problem.seq == 8 and "deleted" in problem.problem


def test_reordered_records_are_detected() -> None:
    chain = build(10)
    chain[2], chain[3] = chain[3], chain[2]
    problem = verify(chain)
    assert problem is not None and problem.seq == 4


def test_hash_depends_on_previous_hash() -> None:
    body = {"a": 1}
    assert link_hash(GENESIS, body) != link_hash("f" * 64, body)
