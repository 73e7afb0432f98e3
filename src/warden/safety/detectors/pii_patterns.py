"""The fast PII pass: regexes whose candidates must also pass a checksum or a validity rule.

The validators are what keep precision up: most 16-digit numbers are not cards (Luhn plus
issuer prefix), most `XX00...` strings are not IBANs (mod-97 plus country length), most
`ddd-dd-dddd` strings are not SSNs (SSA never issues 000/666/9xx areas, 00 groups, 0000
serials). What counts as PII is documented in tests/data/safety/README.md.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from functools import cache

from warden.safety.policy import Finding

DETECTOR = "pii.patterns"

# RFC 2606 / 6761 names never belong to a real mailbox.
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_TLDS = ("example", "test", "invalid", "localhost", "local", "internal")

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])")

# Phone candidates: 7-15 digits with the usual separators. Validity is decided afterwards.
_PHONE = re.compile(r"(?<![\w+./-])(?:\+|00)?\(?\d(?:[\d\u00a0 ().-]{5,20})\d(?![\w/]|[.-]\d)")
_NANP = re.compile(r"^(?:\+?1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}$")
_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel\b|telephone|call|mobile|cell|fax|whats ?app|sms|text me|ring|"
    r"reach|contact|number|dial|handy|t[ée]l[ée]fono|num[ée]ro|hotline|telefon\w*|"
    r"rufnummer|anrufen|ruf\w* an|m[óo]vil|ll[aá]m\w*|portable|appel\w*|cellulare|chiam\w*|"
    r"telefoon\w*|bel\b|mobiel|kom[óo]rk\w*|zadzwo\w*|dzwo\w*|telefone|celular|ligu\w*|"
    r"cep\b|ara\b|ulaş\w*|tel\.)\W{0,3}"
    r"(?:\w+\W{1,3}){0,4}$")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU", "ES", "IT", "NL", "BR", "CA")

_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w]|[.-]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)"
                   r"(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|-\d)")
_SSH_REMOTE = re.compile(r":[\w./~-]")
# An SSN-shaped number right after a product or order word is that id ("SKU 812-55-0041").
_ID_CONTEXT = re.compile(r"(?i)\b(?:sku|order|part|item|model|ref(?:erence)?|invoice|"
                         r"ticket|case|serial|article|product|po)\b(?:\s*(?:no\.?|number|#|"
                         r"id))?\s*[:#]?\s*$")
_SSN_BARE = re.compile(r"(?i)(?:ssn|social security(?: number| no\.?| #)?)\W{0,4}(\d{9})\b")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# Dotted numbers after a section or clause word are document structure, not addresses:
# "see section 4.2.1.3", "§ 12.1.3.2", "clause 2.4.1.7".
_SECTION_CONTEXT = re.compile(
    r"(?i)(?:\b(?:section|sections|sec\.?|clause|clauses|chapter|ch\.?|paragraph|para\.?|"
    r"article|art\.?|appendix|annex|figure|fig\.?|table|step|item|rule|part|point|"
    r"requirement|req\.?|control|abschnitt|kapitel|ziffer|apartado|artículo|articolo|"
    r"artigo|chapitre|paragraphe|hoofdstuk|rozdział|bölüm)|§+)\s*(?:no\.?\s*)?$")
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:v|version|ver\.?|release|build|oid|python|node|"
                              r"chrome|firefox)\s*$")

# One alternation with a named group per kind: a single pass instead of nine.
# (kind, literals one of which every match contains, pattern). One alternation of all of
# them cost 1.1 ms per KB (the engine tries twenty branches at every position); a pattern
# runs only when one of its literals occurs, so ordinary text pays for a few `in` tests.
_SECRET_FORMATS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (kind, hints, re.compile(pattern)) for kind, hints, pattern in (
        ("aws", ("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
        ("github", ("gh", "github_pat_"),
         r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{60,})\b"),
        ("openai", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-|ant-api03-)?[A-Za-z0-9_-]{20,}"),
        ("slack", ("xox",), r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
        ("slack_webhook", ("hooks.slack.com",),
         r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
        ("google", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("stripe", ("k_live_", "k_test_"), r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}\b"),
        ("warden", ("wk_",), r"\bwk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}"),
        ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("huggingface", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}\b"),
        ("gitlab", ("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("npm", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("pypi", ("pypi-AgE",), r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
        ("sendgrid", ("SG.",), r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}"),
        ("twilio", ("AC", "SK"), r"\b(?:AC|SK)[0-9a-f]{32}\b"),
        ("digitalocean", ("_v1_",), r"\bdo[por]_v1_[a-f0-9]{64}\b"),
        ("shopify", ("shp",), r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
        ("mailgun", ("key-",), r"\bkey-[0-9a-f]{32}\b"),
        ("telegram", (":AA",), r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
        ("azure", ("ccountKey=", "ccountkey="), r"(?<=[Aa]ccount[Kk]ey=)[A-Za-z0-9+/]{40,}={0,2}"),
    ))
_ASSIGNMENT_WORDS = ("key", "secret", "token", "pass", "pwd", "bearer")
_ASSIGNMENT = re.compile(
    r"(?i)(?:api[_-]?key|apikey|secret(?:[_-]?key)?|token|access[_-]?key|auth[_-]?token|"
    r"client[_-]?secret|passw(?:or)?d|pwd|bearer)[\"']?\s*(?:[:=]|=>|\s)\s*[\"']?"
    r"([A-Za-z0-9+/_.~!@#$%^&*=-]{12,})")
# Passwords told in prose ("my password is Tr0ub4dor&3", "PIN: 4821", "Passwort lautet ...")
# are short and low-entropy, so they need a password word right before and a value that is
# not a plain word.
_SPOKEN_PASSWORD = re.compile(
    r"(?i)\b(?:(?:passw(?:or)?d|passwort|contrase[ñn]a|mot de passe|senha|parola d'ordine|"
    r"wachtwoord|has[łl]o|[şs]ifre|passcode|passphrase|pin(?: code)?|wifi key|wi-fi key)"
    r"(?:\s+(?:is|was|=|:|lautet|es|est|é|è|is nu|to|jest)|[\"']?\s*[:=])"
    # Short forms only before ":" or "=": "pw: ...", "pass=...", "pwd: ..." (JSON or prose).
    r"|(?:pw|pwd|pass)[\"']?\s*[:=])\s*[\"'`]?([^\s\"'`]{4,64})")
# A literal in every match of _SPOKEN_PASSWORD (lowercased): the regex runs only after one.
_PASSWORD_WORDS = ("pass", "pw", "pin", "contrase", "senha", "parola", "wachtwoord", "hasło",
                   "haslo", "ifre", "wifi key", "wi-fi key")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]{1,64}:([^\s:/@]{3,128})@[\w.-]+")
_PLACEHOLDER = re.compile(r"(?i)your|example|placeholder|changeme|dummy|redacted|xxxx|\*\*\*|"
                          r"<|\$\{|\{\{|env|getenv|process\.|config\.|settings\.")
_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----"
                  r"(?:[\s\S]{0,8000}?-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----)?")


def _looks_like_password(value: str) -> bool:
    """A value after "password is" that is not a word of the sentence: it has a digit or a
    symbol beside letters, or is all digits (a PIN), and is no placeholder."""
    if _PLACEHOLDER.search(value) or value.lower() in _NOT_PASSWORDS:
        return False
    has_alpha = any(c.isalpha() for c in value)
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    mixed_case = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    return (value.isdigit() and 4 <= len(value) <= 8) or (
        has_alpha and (has_digit or has_symbol or (mixed_case and len(value) >= 8)))


_NOT_PASSWORDS = frozenset(("required", "incorrect", "invalid", "wrong", "expired", "reset",
                            "changed", "optional", "hidden", "protected", "n/a", "none",
                            "null", "****", "********"))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_issuer_ok(d: str) -> bool:
    """Issuer prefix and length: a Luhn pass alone accepts one random number in ten."""
    n = len(d)
    two, four = int(d[:2]), int(d[:4])
    return ((d[0] == "4" and n in (13, 16, 19))
            or ((51 <= two <= 55 or 2221 <= four <= 2720) and n == 16)
            or (two in (34, 37) and n == 15)
            or ((d.startswith("6011") or two == 65 or 644 <= int(d[:3]) <= 649) and n >= 16)
            or (3528 <= four <= 3589 and n >= 16)
            or ((two in (36, 38, 39) or 300 <= int(d[:3]) <= 305) and n >= 14)
            or (two == 62 and n >= 16))


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "KW": 30, "KZ": 20,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PT": 25, "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TR": 26, "UA": 29,
}


def iban_ok(raw: str) -> bool:
    iban = raw.replace(" ", "")
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return (area not in ("000", "666") and area[0] != "9" and group != "00"
            and serial != "0000" and f"{area}{group}{serial}" not in ("123456789", "078051120"))


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: keys are ~4-6, words and placeholders ~2-3."""
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@cache
def _public_suffix_extractor() -> Callable[[str], object]:
    from warden.safety.offline import offline_tldextract

    return offline_tldextract()


def _email_domain_ok(domain: str) -> bool:
    lowered = domain.lower()
    if lowered.endswith(_RESERVED_DOMAINS) or lowered.rsplit(".", 1)[-1] in _RESERVED_TLDS:
        return False
    return bool(getattr(_public_suffix_extractor()(lowered), "suffix", ""))


def _valid_in(candidate: str, regions: tuple[str | None, ...]) -> bool:
    import phonenumbers

    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phone_ok(text: str, start: int, candidate: str) -> bool:
    """International numbers must be valid for their country code; NANP-shaped ones pass on
    shape; a national number (e.g. "020 7946 0958") only next to a word like "call"."""
    digits = re.sub(r"\D", "", candidate)
    if (not 7 <= len(digits) <= 15 or _DATE_LIKE.match(candidate)
            or candidate.count("(") != candidate.count(")") or "--" in candidate):
        return False
    if candidate.startswith(("+", "00")):
        return _valid_in("+" + candidate.lstrip("+0") if candidate.startswith("00")
                         else candidate, (None,))
    if _NANP.match(candidate):
        return True
    return (bool(_PHONE_CONTEXT.search(text[max(0, start - 40):start]))
            and _valid_in(candidate, _PHONE_REGIONS))


def _ip_ok(text: str, start: int, candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if (_VERSION_CONTEXT.search(text[max(0, start - 12):start])
            or _SECTION_CONTEXT.search(text[max(0, start - 16):start])):
        return False
    if (address.is_loopback or address.is_unspecified or address.is_multicast
            or address.is_reserved or _NETWORK_SUFFIX.match(text, start + len(candidate))):
        return False
    # Private (RFC 1918) and link-local addresses still point at someone's machine, as
    # Presidio treats them; documentation ranges (RFC 5737/3849) only when the text does not
    # say it is an example.
    return not (_is_documentation(address)
                and _EXAMPLE_CONTEXT.search(text[max(0, start - 60):start]))


_DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
_NETWORK_SUFFIX = re.compile(r"/\d{1,3}\b")  # CIDR: a network, not a host
_EXAMPLE_CONTEXT = re.compile(r"(?i)\b(?:example|examples|documentation|e\.g\.|such as|"
                              r"placeholder|sample)\b")


def _is_documentation(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address.version == net.version and address in net
               for net in _DOCUMENTATION_NETS)


def _find(text: str) -> Iterator[Finding]:
    def hit(start: int, end: int, label: str, score: float) -> Finding:
        return Finding("pii", start, end, score, DETECTOR, label)

    if "@" in text:
        for m in _EMAIL.finditer(text):
            # "git@github.com:org/repo.git" is an SSH remote, not a mailbox.
            if _email_domain_ok(m.group(1)) and not _SSH_REMOTE.match(text, m.end()):
                yield hit(m.start(), m.end(), "EMAIL_ADDRESS", 0.95)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and _card_issuer_ok(digits):
            yield hit(m.start(), m.end(), "CREDIT_CARD", 0.95)
    for m in _IBAN.finditer(text):
        if iban_ok(m.group(1)):
            yield hit(m.start(1), m.end(1), "IBAN_CODE", 0.95)
    for m in _SSN.finditer(text):
        if ssn_ok(m.group(1), m.group(3), m.group(4)) \
                and not _ID_CONTEXT.search(text[max(0, m.start() - 24):m.start()]):
            yield hit(m.start(), m.end(), "US_SSN", 0.85)
    for m in _SSN_BARE.finditer(text):
        d = m.group(1)
        if ssn_ok(d[:3], d[3:5], d[5:]):
            yield hit(m.start(1), m.end(1), "US_SSN", 0.85)
    for m in _PHONE.finditer(text):
        candidate = m.group().rstrip(" .-(")
        if _phone_ok(text, m.start(), candidate):
            yield hit(m.start(), m.start() + len(candidate), "PHONE_NUMBER", 0.8)
    if "." in text:
        for m in _IPV4.finditer(text):
            if _ip_ok(text, m.start(), m.group()):
                yield hit(m.start(), m.end(), "IP_ADDRESS", 0.85)
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            if m.group().count(":") >= 2 and _ip_ok(text, m.start(), m.group()):
                yield hit(m.start(), m.end(), "IP_ADDRESS", 0.85)
    yield from _find_secrets(text)


def _token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every known token format, in text order; where two formats
    overlap the earlier-listed one wins, as in one alternation."""
    spans: list[tuple[int, int, int, str]] = []
    for rank, (kind, hints, pattern) in enumerate(_SECRET_FORMATS):
        if any(h in text for h in hints):
            spans += [(m.start(), rank, m.end(), kind) for m in pattern.finditer(text)]
    out: list[tuple[int, int, str]] = []
    for start, _, end, kind in sorted(spans):
        if not out or start >= out[-1][1]:
            out.append((start, end, kind))
    return out


def _find_secrets(text: str) -> Iterator[Finding]:
    for start, end, kind in _token_spans(text):
        yield Finding("pii", start, end, 0.99, f"{DETECTOR}.{kind}", "SECRET")
    lowered = text.lower()
    spoken = _SPOKEN_PASSWORD.finditer(text) if any(
        w in lowered for w in _PASSWORD_WORDS) else iter(())
    for m in spoken:
        # A quoted value is taken whole; in prose, trailing punctuation ends the sentence.
        quoted = text[m.end(1):m.end(1) + 1] in ("\"", "'", "`")
        value = m.group(1) if quoted else m.group(1).rstrip(".,;:!?)")
        if _looks_like_password(value):
            yield Finding("pii", m.start(1), m.start(1) + len(value), 0.8,
                          f"{DETECTOR}.password", "SECRET")
    for m in _URL_PASSWORD.finditer(text):
        if not _PLACEHOLDER.search(m.group(1)):
            yield Finding("pii", m.start(1), m.end(1), 0.85, f"{DETECTOR}.url_password",
                          "SECRET")
    if any(word in lowered for word in _ASSIGNMENT_WORDS):
        for m in _ASSIGNMENT.finditer(text):
            value = m.group(1).rstrip(".")
            if (not _PLACEHOLDER.search(value) and entropy(value) >= 3.0
                    and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
                yield Finding("pii", m.start(1), m.start(1) + len(value), 0.8,
                              f"{DETECTOR}.assignment", "SECRET")
    if "PRIVATE KEY" in text:
        for m in _PEM.finditer(text):
            yield Finding("pii", m.start(), m.end(), 0.99, f"{DETECTOR}.pem", "PRIVATE_KEY")


def find_pii(text: str) -> list[Finding]:
    """Every pattern finding in `text`; overlapping spans are left to the caller."""
    return list(_find(text))
