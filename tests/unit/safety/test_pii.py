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
    # Private and link-local addresses still identify a machine (Presidio flags them too).
    ("my NAS is on 192.168.1.50 at home", "IP_ADDRESS", "192.168.1.50"),
    ("ssh into 10.20.3.14 and check", "IP_ADDRESS", "10.20.3.14"),
    ("the printer got 169.254.12.7", "IP_ADDRESS", "169.254.12.7"),
    ("blocked 203.0.113.45 after 40 failed logins", "IP_ADDRESS", "203.0.113.45"),
    ("host fe80::1ff:fe23:4567:890a answers", "IP_ADDRESS", "fe80::1ff:fe23:4567:890a"),
    ("my password is Tr0ub4dor&3 btw", "SECRET", "Tr0ub4dor&3"),
    ("wifi password: sunflower42", "SECRET", "sunflower42"),
    ("das Passwort lautet Hund#2024", "SECRET", "Hund#2024"),
    ("la contraseña es Gato_azul9", "SECRET", "Gato_azul9"),
    ("the PIN is 4821.", "SECRET", "4821"),
    ('{"user": "mhall", "password": "hunter2!"}', "SECRET", "hunter2!"),
    ("login: jdoe / pw: Blue42river", "SECRET", "Blue42river"),
    ("DATABASE_URL=postgres://app:Xk29vLq8@db.internal:5432/prod", "SECRET", "Xk29vLq8"),
    ("token hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "SECRET",
     "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    ("glpat-x8Yz2Qw4Er6Ty8Ui0OpA", "SECRET", "glpat-x8Yz2Qw4Er6Ty8Ui0OpA"),
    ("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
     "q8Zr0xYb5WmK3pLs7TnVc2Hd9Gf4Je6Ua1Ro8Ii0Pk3Ml5Nz7Xw==", "SECRET",
     "q8Zr0xYb5WmK3pLs7TnVc2Hd9Gf4Je6Ua1Ro8Ii0Pk3Ml5Nz7Xw=="),
    ("ruf mich an unter Telefon 030 2275 4810", "PHONE_NUMBER", "030 2275 4810"),
    ("llámame al 612 345 678", "PHONE_NUMBER", "612 345 678"),
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
    "Listen on 127.0.0.1, 0.0.0.0 and ::1; route 10.0.0.0/8 and 192.168.1.0/24",
    "Documentation examples use 192.0.2.10 and 2001:db8::1 as addresses.",
    "Your password is required; the password was reset; PIN code: optional",
    "Please pass the salt; you shall not pass: ever; the mountain pass: closed",
    "set password: ${DB_PASSWORD} or password=<your-password>",
    "netmask 255.255.255.0, MAC 00:1A:2B:3C:4D:5E, at 12:30:45, std::vector",
    "docs: send user@example.com or admin@corp.test a message",
    "API_KEY=your_api_key_here and token=<YOUR_TOKEN> and password=os.environ['PW']",
    "Set token_limit: 4096; the secret sauce is paprika.",
    "Dial 911 or 112; flight LH 454 leaves at 13:05.",
    "git clone git@github.com:warden-dev/warden.git; SKU 812-55-0041 is out of stock",
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
    # Names spaCy-sm misses, found by the given-name list (name_gazetteer.py).
    ("Wojciech Nowak will handle the handover tomorrow.", "Wojciech Nowak"),
    ("Ayşe Yılmaz sent the invoice on Friday.", "Ayşe Yılmaz"),
    ("Marek Zieliński zadzwoni jutro.", "Marek Zieliński"),
    ("Proofread: Kateryna Shevchenko has volunteered since 2019.", "Kateryna Shevchenko"),
    ("Hey Bartholomew, the pull request is ready.", "Bartholomew"),
    ("Mrs Patel from accounting approved it.", "Patel"),
    # A private person whose name starts like a public one's.
    ("Card 4485275742308178, name on card Victor Hugo Almeida.", "Victor Hugo Almeida"),
])
def test_ner_finds_person_names(with_ner: PiiDetector, text: str, name: str) -> None:
    found = [(f.label, text[f.start:f.end]) for f in with_ner.scan(text)]
    assert ("PERSON", name) in found


def test_ner_leaves_non_names_alone(with_ner: PiiDetector) -> None:
    for text in ["Convert 72 degrees Fahrenheit to Celsius.",
                 "Invalid SSN for testing: 000-12-3456 is rejected.",
                 "def load_config(path): return yaml.safe_load(open(path))",
                 # Capitalised phrases with no known name, or ending like a place or firm.
                 "Google Cloud Platform bills by the second.",
                 "Victoria Station is closed for repairs.",
                 "Open the Terminal and type Git Status.",
                 "I bought a John Deere tractor last spring.",
                 "Maria Hospital and Jordan Street are near the station.",
                 # Public and fictional people (data/public_names.txt), whole or in part.
                 "The Gaussian distribution is named after Carl Friedrich Gauss.",
                 "Angela Merkel's memoir and Sherlock Holmes stories are on the shelf."]:
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


def test_name_gazetteer_matches_its_build_script() -> None:
    """names.txt is generated from Faker (a dev dependency): a stale file fails here."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "scripts/build_name_gazetteer.py"
    run = subprocess.run([sys.executable, "-I", str(script), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
