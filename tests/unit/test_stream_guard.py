"""The streaming output guard with a toy checker: what leaves has always been checked."""

import re

from warden.safety.policy import Finding, Verdict
from warden.safety.redaction import Redactor
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


# Later repeats of values the request already mapped --------------------------------------
def _guard_with_known(value: str, max_hold: int = 40) -> tuple[StreamGuard, Redactor]:
    """A guard whose checker finds nothing (as NER finding nothing in a short chunk), over a
    Redactor that mapped `value` earlier in the request (on the input)."""
    redactor = Redactor()
    redactor.placeholder("PERSON", value)
    guard = StreamGuard(lambda text: Verdict("allow"),
                        lambda text, findings: redactor.redact(text, findings)[0],
                        max_hold=max_hold, context=16, known=redactor)
    return guard, redactor


def _stream(guard: StreamGuard, pieces: list[str]) -> str:
    sent = [guard.push(p).text for p in pieces]
    sent.append(guard.finish().text)
    return "".join(sent)


def test_a_mapped_value_is_masked_in_the_stream_without_a_finding() -> None:
    guard, _ = _guard_with_known("Marcus Delgado")
    out = _stream(guard, ["Dear Marcus Delgado, thanks. ", "Marcus Delgado will call."])
    assert "Marcus" not in out and "Delgado" not in out
    assert out == "Dear <PERSON_1>, thanks. <PERSON_1> will call."


def test_a_mapped_value_split_across_deltas_and_a_release_cut_is_masked() -> None:
    # max_hold=12 forces a cut at the last space of "To Marcus De", right inside the name:
    # "To Marcus " would be released before "lgado" arrived if the guard did not hold the
    # possible start of a mapped value back.
    guard, _ = _guard_with_known("Marcus Delgado", max_hold=12)
    pieces = ["To Mar", "cus De", "lgado and", " the team"]
    sent = []
    for piece in pieces:
        sent.append(guard.push(piece).text)
        assert "Marcus" not in "".join(sent)
    assert sent[1] == "To "  # released up to the name, the name held back
    sent.append(guard.finish().text)
    assert "".join(sent) == "To <PERSON_1> and the team"


def test_a_held_back_prefix_is_released_once_it_turns_out_to_be_something_else() -> None:
    guard, _ = _guard_with_known("Marcus Delgado", max_hold=12)
    out = _stream(guard, ["To Mar", "cus Au", "relius and the rest."])
    assert out == "To Marcus Aurelius and the rest."


def test_the_real_pipeline_masks_a_name_the_output_detector_misses() -> None:
    """End to end over the real detectors: the name is mapped on the input, the model's
    answer repeats it where only the Redactor's memory can catch it."""
    from warden.safety.pipeline import GuardPipeline

    pipeline = GuardPipeline()
    redactor = Redactor()
    check = pipeline.check_input("Write a short thank-you note to my colleague "
                                 "Akosua Mensah for covering my shift.", redactor)
    assert "Akosua Mensah" in redactor.mapping.values(), check
    guard = StreamGuard(lambda text: pipeline.check_output(text, redactor),
                        lambda text, findings: redactor.redact(text, findings)[0],
                        max_hold=24, context=16, known=redactor)
    answer = ["Dear Ako", "sua Men", "sah,\n", "thank you! ", "Akosua", " Mensah", " rocks."]
    out = _stream(guard, answer)
    assert "Akosua" not in out and "Mensah" not in out, out
