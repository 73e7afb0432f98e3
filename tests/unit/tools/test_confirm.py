"""Confirmation tokens: bound to key, tool, exact arguments and expiry; single use."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from warden.safety.tools.confirm import SECRET_ENV, ConfirmationTokens, load_secret
from warden.safety.tools.errors import ToolProblem
from warden.safety.tools.ledger import TokenLedger
from warden.store.db import open_database

SECRET = b"s" * 32
ARGS = {"title": "Release", "text": "ship it", "tags": ["a", "b"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def issue(tokens: ConfirmationTokens, **changes: object) -> str:
    params = {"key_id": "k1", "tool": "notes_append", "arguments": ARGS,
              "dry_run_result": {"would_append": ARGS}, "ttl_s": 300, **changes}
    token, _ = tokens.issue(**params)  # type: ignore[arg-type]
    return token


def refused(tokens: ConfirmationTokens, token: str, **changes: object) -> ToolProblem:
    params = {"key_id": "k1", "tool": "notes_append", "arguments": ARGS, **changes}
    with pytest.raises(ToolProblem) as err:
        tokens.verify(token, **params)  # type: ignore[arg-type]
    return err.value


def test_round_trip_and_key_order_does_not_matter() -> None:
    tokens = ConfirmationTokens(SECRET)
    token = issue(tokens)
    reordered = {"tags": ["a", "b"], "text": "ship it", "title": "Release"}
    claims = tokens.verify(token, key_id="k1", tool="notes_append", arguments=reordered)
    assert claims.tool == "notes_append" and claims.key_id == "k1"
    assert "ship it" not in token  # arguments are bound by hash, never carried


def test_tampering_any_byte_is_refused() -> None:
    tokens = ConfirmationTokens(SECRET)
    token = issue(tokens)
    alphabet = string.ascii_letters + string.digits + "-_."
    for i, ch in enumerate(token):
        for replacement in (alphabet[(alphabet.index(ch) + 1) % len(alphabet)],
                            alphabet[(alphabet.index(ch) + 7) % len(alphabet)]):
            tampered = token[:i] + replacement + token[i + 1:]
            problem = refused(tokens, tampered)
            assert problem.status == 403 and problem.code == "confirmation_token_invalid", i
    assert refused(tokens, token + "A").code == "confirmation_token_invalid"
    assert refused(tokens, token[:-1]).code == "confirmation_token_invalid"
    assert refused(tokens, "").code == "confirmation_token_invalid"


def test_other_secret_is_refused() -> None:
    token = issue(ConfirmationTokens(b"x" * 32))
    assert refused(ConfirmationTokens(SECRET), token).code == "confirmation_token_invalid"


def test_changed_arguments_are_refused_naming_the_problem() -> None:
    tokens = ConfirmationTokens(SECRET)
    token = issue(tokens)
    for changed in ({**ARGS, "text": "ship it!"}, {**ARGS, "tags": ["b", "a"]},
                    {k: v for k, v in ARGS.items() if k != "tags"}, {**ARGS, "x": None}):
        problem = refused(tokens, token, arguments=changed)
        assert problem.status == 409 and problem.code == "confirmation_arguments_changed"
        assert "arguments" in problem.message


def test_cross_key_and_cross_tool_are_refused() -> None:
    tokens = ConfirmationTokens(SECRET)
    token = issue(tokens)
    assert refused(tokens, token, key_id="k2").code == "confirmation_token_wrong_key"
    assert refused(tokens, token, tool="calculator").code == "confirmation_token_wrong_tool"


def test_expiry() -> None:
    clock = Clock()
    tokens = ConfirmationTokens(SECRET, clock=clock)
    token = issue(tokens, ttl_s=60)
    clock.now += 59
    tokens.verify(token, key_id="k1", tool="notes_append", arguments=ARGS)
    clock.now += 1
    problem = refused(tokens, token)
    assert problem.code == "confirmation_token_expired" and "dry run again" in problem.message


def test_ledger_refuses_replay(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/w.db")
    try:
        ledger = TokenLedger(db)
        tokens = ConfirmationTokens(SECRET)
        claims = tokens.verify(issue(tokens), key_id="k1", tool="notes_append", arguments=ARGS)
        ledger.claim(claims, "req_1")
        assert ledger.is_used(claims.token_id)
        with pytest.raises(ToolProblem) as err:
            ledger.claim(claims, "req_2")
        assert err.value.status == 409 and err.value.code == "confirmation_token_used"
        # A second ledger over the same database (another replica) refuses it too.
        with pytest.raises(ToolProblem):
            TokenLedger(open_database(f"sqlite:///{tmp_path}/w.db")).claim(claims, "req_3")
    finally:
        db.dispose()


def test_secret_from_env_or_generated_file(tmp_path: Path) -> None:
    assert load_secret(tmp_path, {SECRET_ENV: "e" * 40}) == b"e" * 40
    with pytest.raises(ValueError, match=SECRET_ENV):
        load_secret(tmp_path, {SECRET_ENV: "short"})
    first = load_secret(tmp_path, {})
    assert len(first) >= 32 and load_secret(tmp_path, {}) == first
    key_file = tmp_path / "secrets" / "tool_token.key"
    assert key_file.stat().st_mode & 0o077 == 0
