from __future__ import annotations

from typing import Any

import pytest

from warden.safety.detectors.pii import PiiDetector, PiiPatternDetector
from warden.safety.detectors.pii_patterns import entropy, iban_ok, luhn_ok, ssn_ok

patterns = PiiPatternDetector()


def labels(text: str) -> list[tuple[str, str]]:
    return [(f.label, text[f.start:f.end]) for f in patterns.scan(text)]


@pytest.mark.parametrize(("text", "label", "value"), [
    ("write to ana.souza@gmail.com today", "EMAIL_ADDRESS", "ana.souza@gmail.com"),
    ("call (415) 555-0132 now", "PHONE_NUMBER", "(415) 555-0132"),
    ("ring +44 20 7946 0321", "PHONE_NUMBER", "+44 20 7946 0321"),
    ("phone: 030 2275 4810", "PHONE_NUMBER", "030 2275 4810"),
    ("card 4539 1488 0343 6467 exp", "CREDIT_CARD", "4539 1488 0343 6467"),
    ("amex 378282246310005.", "CREDIT_CARD", "378282246310005"),
    ("IBAN DE89 3704 0044 0532 0130 00 ok", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
    ("GB29NWBK60161331926819", "IBAN_CODE", "GB29NWBK60161331926819"),
    ("ssn 536-22-1274", "US_SSN", "536-22-1274"),
    ("social security number 536221274", "US_SSN", "536221274"),
    ("from 81.2.69.160 at noon", "IP_ADDRESS", "81.2.69.160"),
    ("host 2001:4860:4860::8888 down", "IP_ADDRESS", "2001:4860:4860::8888"),
    ("AKIAQ3EGWNB7ZP4XK2LM", "SECRET", "AKIAQ3EGWNB7ZP4XK2LM"),
    ("t ghp_R8d2LkQ9vX4mN7pT1sW6yZ3cF5hJ0bA2eG8u", "SECRET",
     "ghp_R8d2LkQ9vX4mN7pT1sW6yZ3cF5hJ0bA2eG8u"),
    ("OPENAI_API_KEY=sk-proj-4fT9kQ2mZx7LrB1vNw8YpC3s", "SECRET",
     "sk-proj-4fT9kQ2mZx7LrB1vNw8YpC3s"),
    ("xoxb-2816273645-5521038847261-Qm8TzK2pLw9X", "SECRET",
     "xoxb-2816273645-5521038847261-Qm8TzK2pLw9X"),
    ("Bearer wk_3fa9c21b7e04_Qx8vLm2RtY7pZ1wK9sN4bC6dF0gH3jE5aT", "SECRET",
     "wk_3fa9c21b7e04_Qx8vLm2RtY7pZ1wK9sN4bC6dF0gH3jE5aT"),
    ('api_key = "f83KqL02mZ7xV9nBw4Rt6YpC"', "SECRET", "f83KqL02mZ7xV9nBw4Rt6YpC"),
])
def test_pattern_positives(text: str, label: str, value: str) -> None:
    assert (label, value) in labels(text)


def test_private_key_block_is_one_finding() -> None:
    pem = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
           "-----END OPENSSH PRIVATE KEY-----")
    assert labels(f"my key:\n{pem}\nthanks") == [("PRIVATE_KEY", pem)]


@pytest.mark.parametrize("text", [
    "Release 2.4.1 fixes 2.3.9; see version 1.2.3.4 of the docs.",
    "Order ORD-2024-558812 ships on 2024-03-15.",
    "ISBN 978-0-13-468599-1, EAN 4006381333931",
    "The card 4539 1488 0343 6461 fails the Luhn check.",
    "16 digits but unknown issuer: 9999 9999 9999 9995",
    "IBAN DE00 3704 0044 0532 0130 00 is invalid",
    "SSNs 000-12-3456, 666-45-1234, 923-45-6789 and 123-45-6789 are never issued",
    "Listen on 127.0.0.1, 10.0.0.12, 192.168.1.1, 192.0.2.10 and 2001:db8::1",
    "netmask 255.255.255.0, MAC 00:1A:2B:3C:4D:5E, at 12:30:45, std::vector",
    "docs: send user@example.com or admin@corp.test a message",
    "API_KEY=your_api_key_here and token=<YOUR_TOKEN> and password=os.environ['PW']",
    "Set token_limit: 4096; the secret sauce is paprika.",
    "Dial 911 or 112; flight LH 454 leaves at 13:05.",
])
def test_pattern_hard_negatives(text: str) -> None:
    assert labels(text) == []


def test_validators() -> None:
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436461")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")
    assert not iban_ok("DE89 3704 0044 0532 0130 0")  # wrong length for the country
    assert ssn_ok("536", "22", "1274")
    assert not any(ssn_ok(*p) for p in [("000", "12", "3456"), ("666", "12", "3456"),
                                        ("912", "12", "3456"), ("536", "00", "1274"),
                                        ("536", "22", "0000")])
    assert entropy("aaaaaaaa") == 0 and entropy("f83KqL02mZ7xV9nB") > 3.5


def _entity_recall(detector: Any, rows: list[dict[str, Any]], skip: set[str]) -> float:
    found = total = 0
    for row in rows:
        spans = [(f.start, f.end) for f in detector.scan(row["text"])]
        for ent in row["entities"]:
            if ent["type"] in skip:
                continue
            start = row["text"].index(ent["text"])
            end = start + len(ent["text"])
            total += 1
            found += any(s < end and start < e for s, e in spans)
    return found / total


def test_pattern_pass_on_labelled_set(pii_rows: list[dict[str, Any]]) -> None:
    """Every non-name entity type is the pattern pass's job: it must find them nearly all
    and stay silent on the hard negatives (version numbers, order ids, invalid checksums)."""
    positives = [r for r in pii_rows if r["label"] == 1]
    negatives = [r for r in pii_rows if r["label"] == 0]
    assert _entity_recall(patterns, positives, skip={"PERSON"}) >= 0.95
    flagged = [r["text"] for r in negatives if patterns.scan(r["text"])]
    assert len(flagged) / len(negatives) <= 0.05, flagged


@pytest.fixture(scope="module")
def with_ner() -> PiiDetector:
    return PiiDetector(ner=True)


@pytest.mark.parametrize(("text", "name"), [
    ("My name is John Smith and I need help.", "John Smith"),
    ("Write a polite reminder to Samuel Okafor about the rent.", "Samuel Okafor"),
    ("Please forward this to my sister Rebecca tonight.", "Rebecca"),
])
def test_ner_finds_person_names(with_ner: PiiDetector, text: str, name: str) -> None:
    found = [(f.label, text[f.start:f.end]) for f in with_ner.scan(text)]
    assert ("PERSON", name) in found


def test_ner_leaves_non_names_alone(with_ner: PiiDetector) -> None:
    for text in ["Convert 72 degrees Fahrenheit to Celsius.",
                 "Invalid SSN for testing: 000-12-3456 is rejected.",
                 "def load_config(path): return yaml.safe_load(open(path))"]:
        assert [f for f in with_ner.scan(text) if f.label == "PERSON"] == [], text


def test_names_are_not_glued_to_emails(with_ner: PiiDetector) -> None:
    text = "Ask Priya Raman (priya.raman@northwind.co.uk) about it."
    found = {(f.label, text[f.start:f.end]) for f in with_ner.scan(text)}
    assert ("EMAIL_ADDRESS", "priya.raman@northwind.co.uk") in found
    assert ("PERSON", "Priya Raman") in found


def test_ner_off_finds_no_names() -> None:
    assert [f.label for f in PiiDetector(ner=False).scan("My name is John Smith.")] == []


def test_ner_on_labelled_set(with_ner: PiiDetector, pii_rows: list[dict[str, Any]]) -> None:
    positives = [r for r in pii_rows if r["label"] == 1]
    assert _entity_recall(with_ner, positives, skip=set()) >= 0.90
