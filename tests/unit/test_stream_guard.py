"""The streaming output guard with a toy checker: what leaves has always been checked."""

import re

from warden.safety.findings import Finding, Verdict
from warden.safety.streaming import StreamGuard

EMAIL = re.compile(r"\S+@\S+\.\w+")


def check(text: str) -> Verdict:
    if "badword" in text:
        i = text.index("badword")
        return Verdict("block", (Finding("toxicity", i, i + 7, 1.0, "toy", "TOXIC"),))
    found = tuple(Finding("pii", m.start(), m.end(), 1.0, "toy", "EMAIL_ADDRESS")
                  for m in EMAIL.finditer(text))
    return Verdict("redact" if found else "allow", found)


def redact(text: str, findings: list[Finding]) -> str:
    for f in sorted(findings, key=lambda f: -f.start):
        text = text[:f.start] + "<EMAIL_1>" + text[f.end:]
    return text


def run(pieces: list[str]) -> tuple[list[str], bool]:
    guard = StreamGuard(check, redact, max_hold=40, context=16)
    sent: list[str] = []
    for piece in pieces:
        out = guard.push(piece)
        if out.text:
            sent.append(out.text)
        if out.blocked:
            return sent, True
    out = guard.finish()
    if out.text:
        sent.append(out.text)
    return sent, out.blocked


def test_text_is_held_until_a_boundary_then_released() -> None:
    guard = StreamGuard(check, redact)
    assert guard.push("Hello wor").text == ""
    assert guard.push("ld. And").text == "Hello world."
    assert guard.finish().text == " And"


def test_block_stops_the_stream_and_nothing_unchecked_leaks() -> None:
    pieces = ["Fine first sentence. ", "Then a bad", "word appears", " here. More text."]
    sent, blocked = run(pieces)
    assert blocked
    assert "".join(sent) == "Fine first sentence."
    assert all("badword" not in s for s in sent)


def test_phrase_split_across_a_boundary_is_caught() -> None:
    # "bad" ends one released segment? No: the held text is checked with released context.
    sent, blocked = run(["ok. bad", "word. x"])
    assert blocked and "".join(sent) == "ok."


def test_pii_is_redacted_even_when_split_over_tokens() -> None:
    sent, blocked = run(["Mail me at ali", "ce@exa", "mple.com today. Bye."])
    assert not blocked
    text = "".join(sent)
    assert "alice@example.com" not in text and "<EMAIL_1>" in text
    assert text.endswith("Bye.")


def test_long_text_without_boundaries_is_released_in_bounded_chunks() -> None:
    guard = StreamGuard(check, redact, max_hold=40)
    out = guard.push("word " * 20)
    assert 0 < len(out.text) <= 40


def test_text_waiting_too_long_is_released_at_a_word_end() -> None:
    now = [0.0]
    guard = StreamGuard(check, redact, max_hold=1000, max_hold_s=0.25, clock=lambda: now[0])
    assert guard.push("1, 2, 3").text == ""
    now[0] = 0.3
    assert guard.will_check(", 4")
    out = guard.push(", 4")
    assert out.text == "1, 2, 3, "  # whole words only; "4" may still be growing
    assert guard.held == "4"
