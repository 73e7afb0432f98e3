import itertools

from warden.engine.batching.forbidden import ForbiddenPhrases

VOCAB = ["a", "b", "k", "i", "l", "ill", "kill", "ki", "ll", " ", " kil", "l ", "KILL", "x",
         "skill", "o", "ok"]


def spell(tokens: tuple[int, ...]) -> str:
    return "".join(VOCAB[t] for t in tokens)


def allowed_sequences(table: ForbiddenPhrases, length: int) -> list[str]:
    """Every string the mask lets a model produce in `length` tokens."""
    frontier = [""]
    for _ in range(length):
        frontier = [text + VOCAB[t] for text in frontier for t in range(len(VOCAB))
                    if t not in table.banned(text)]
    return frontier


def test_tokens_containing_the_phrase_are_always_banned() -> None:
    table = ForbiddenPhrases(("kill",), VOCAB)
    assert {VOCAB[t] for t in table.always} == {"kill", "KILL", "skill"}


def test_completions_are_banned_after_a_partial_phrase() -> None:
    table = ForbiddenPhrases(("kill",), VOCAB)
    after_k = {VOCAB[t] for t in table.banned("a k")}
    assert "ill" in after_k and "ok" not in after_k
    after_kil = {VOCAB[t] for t in table.banned("ki" + "l")}
    assert {"l", "ll", "l "} <= after_kil


def test_no_token_sequence_can_spell_a_phrase() -> None:
    table = ForbiddenPhrases(("kill", "ok"), VOCAB)
    produced = allowed_sequences(table, 4)
    assert produced  # the mask leaves plenty of room
    assert not [s for s in produced if "kill" in s.lower() or "ok" in s.lower()]
    # ...while without the mask those phrases are reachable.
    unmasked = {spell(p) for p in itertools.product(range(len(VOCAB)), repeat=2)}
    assert any("kill" in s.lower() for s in unmasked)


def test_empty_phrase_list_bans_nothing() -> None:
    table = ForbiddenPhrases((), VOCAB)
    assert table.banned("anything") == frozenset()
