from __future__ import annotations

from warden.safety.detectors.pii import PiiPatternDetector
from warden.safety.pipeline import GuardPipeline
from warden.safety.policy import Finding
from warden.safety.redaction import Redactor, mask, redact, resolve_overlaps

EMAIL = "jane.roe@gmail.com"
PHONE = "(415) 555-0132"


def pii(start: int, end: int, label: str, score: float = 0.9) -> Finding:
    return Finding("pii", start, end, score, "test", label)


def test_typed_placeholders_and_mapping() -> None:
    text = f"Mail {EMAIL} or call {PHONE}."
    findings = PiiPatternDetector().scan(text)
    redacted, mapping = redact(text, findings)
    assert redacted == "Mail <EMAIL_1> or call <PHONE_NUMBER_1>."
    assert mapping == {"<EMAIL_1>": EMAIL, "<PHONE_NUMBER_1>": PHONE}


def test_same_value_same_placeholder_across_texts_of_one_request() -> None:
    redactor = Redactor()
    detector = PiiPatternDetector()
    first = f"I am {EMAIL}."
    second = f"Write to bob.stone@outlook.com, cc {EMAIL}."
    out1, _ = redactor.redact(first, detector.scan(first))
    out2, used = redactor.redact(second, detector.scan(second))
    assert out1 == "I am <EMAIL_1>."
    assert out2 == "Write to <EMAIL_2>, cc <EMAIL_1>."
    assert used == {"<EMAIL_2>": "bob.stone@outlook.com", "<EMAIL_1>": EMAIL}
    assert redactor.mapping == {"<EMAIL_1>": EMAIL, "<EMAIL_2>": "bob.stone@outlook.com"}


def test_a_new_request_starts_numbering_again() -> None:
    text = f"{EMAIL}"
    findings = PiiPatternDetector().scan(text)
    assert Redactor().redact(text, findings)[0] == Redactor().redact(text, findings)[0]


def test_overlaps_keep_the_longer_span() -> None:
    text = "key sk-proj-abcdefghijklmnopqrstuvwx0123 end"
    longer = pii(4, 40, "SECRET")
    inner = pii(10, 20, "PERSON", 0.99)
    assert resolve_overlaps([inner, longer]) == [longer]
    redacted, _ = redact(text, [inner, longer])
    assert redacted == "key <SECRET_1> end"


def test_mask_keeps_offsets() -> None:
    text = f"From Ann ({EMAIL}) today"
    masked = mask(text, PiiPatternDetector().scan(text))
    assert len(masked) == len(text)
    assert EMAIL not in masked and masked.startswith("From Ann (")


def test_pipeline_redacts_chat_messages_consistently_and_keeps_other_parts() -> None:
    pipeline = GuardPipeline()
    messages = [
        {"role": "system", "content": f"Escalations go to {EMAIL}."},
        {"role": "user", "content": [
            {"type": "text", "text": f"Is {EMAIL} right? My card is 4539 1488 0343 6467."},
            {"type": "image_url", "image_url": {"url": "https://img.test/x.png"}},
        ]},
    ]
    result = pipeline.check_input(messages)
    assert result.verdict.action == "redact"
    assert result.messages is not None
    assert result.messages[0]["content"] == "Escalations go to <EMAIL_1>."
    parts = result.messages[1]["content"]
    assert parts[0]["text"] == "Is <EMAIL_1> right? My card is <CREDIT_CARD_1>."
    assert parts[1] == messages[1]["content"][1]
    assert messages[0]["content"] == f"Escalations go to {EMAIL}."  # input left untouched
    assert set(result.findings_by_message) == {0, 1}


def test_output_reuses_the_request_placeholders() -> None:
    pipeline = GuardPipeline()
    redactor = Redactor()
    pipeline.check_input(f"Contact {EMAIL} please", redactor)
    verdict = pipeline.check_output(f"Sure, I will write to {EMAIL} and +44 20 7946 0321.",
                                    redactor)
    assert verdict.redacted_text == "Sure, I will write to <EMAIL_1> and <PHONE_NUMBER_1>."


# Later repeats of mapped values ---------------------------------------------------------
NAME = "Marcus Delgado"


def test_a_mapped_value_is_masked_where_no_detector_fired() -> None:
    redactor = Redactor()
    first = f"Please draft a letter to {NAME} about the refund."
    start = first.index(NAME)
    out1, _ = redactor.redact(first, [pii(start, start + len(NAME), "PERSON")])
    # The second text has no finding at all (NER did not fire on the bare name).
    out2, used = redactor.redact(f"Also cc {NAME}; {NAME.upper()} asked twice.", [])
    assert out1 == "Please draft a letter to <PERSON_1> about the refund."
    assert out2 == "Also cc <PERSON_1>; <PERSON_1> asked twice."
    assert used == {"<PERSON_1>": NAME}


def test_a_value_found_late_in_a_text_masks_its_earlier_occurrence() -> None:
    text = f"{NAME} called. Later, Mr. {NAME} wrote again."
    start = text.rindex(NAME)
    redacted, _ = Redactor().redact(text, [pii(start, start + len(NAME), "PERSON")])
    assert redacted == "<PERSON_1> called. Later, Mr. <PERSON_1> wrote again."


def test_known_values_match_whole_words_and_any_whitespace() -> None:
    redactor = Redactor()
    redactor.placeholder("PERSON", "Ann Lee")
    assert redactor.mask_known("Annual report by Ann  Lee, and Ann\nLee.")[0] == \
        "Annual report by <PERSON_1>, and <PERSON_1>."
    assert redactor.mask_known("Ann Leeds is someone else.")[0] == "Ann Leeds is someone else."


def test_longer_value_wins_over_a_value_it_contains() -> None:
    redactor = Redactor()
    redactor.placeholder("PERSON", "Marcus")
    redactor.placeholder("PERSON", NAME)
    assert redactor.mask_known(f"{NAME} and Marcus")[0] == "<PERSON_2> and <PERSON_1>"


def test_pending_prefix_holds_a_possible_start_of_a_mapped_value() -> None:
    redactor = Redactor()
    redactor.placeholder("PERSON", NAME)
    assert redactor.pending_prefix("Hello Marcus ") == len("Marcus ")
    assert redactor.pending_prefix("Hello Marcus ", "Del") == len("Marcus ")
    assert redactor.pending_prefix("Hello Marcus ", "Smith") == 0
    assert redactor.pending_prefix("Hello there ") == 0


def test_pipeline_masks_a_repeat_in_another_message_even_an_earlier_one() -> None:
    """Real NER finds "Tevita Fifita" (in no name list) only in the sentence that gives it
    context; the bare name in the earlier and later messages is masked because the request
    mapped it."""
    pipeline = GuardPipeline()
    person = "Tevita Fifita"
    # the gap this guards against: the bare name is no PII finding on its own
    assert [f for f in pipeline.scan(f"{person} rocks.") if f.category == "pii"] == []
    messages = [
        {"role": "user", "content": f"{person}"},
        {"role": "user", "content": f"Write a short thank-you note to my colleague {person} "
                                    "for covering my shift."},
        {"role": "assistant", "content": [{"type": "text", "text": f"{person} rocks."}]},
    ]
    result = pipeline.check_input(messages)
    assert result.verdict.action == "redact"
    assert result.messages is not None
    assert result.messages[0]["content"] == "<PERSON_1>"
    assert result.messages[1]["content"] == ("Write a short thank-you note to my colleague "
                                             "<PERSON_1> for covering my shift.")
    assert result.messages[2]["content"][0]["text"] == "<PERSON_1> rocks."


def test_case_variants_of_a_value_share_one_placeholder() -> None:
    redactor = Redactor()
    text = f"{EMAIL} and {EMAIL.upper()}"
    redacted, _ = redactor.redact(text, PiiPatternDetector().scan(text))
    assert redacted == "<EMAIL_1> and <EMAIL_1>"
