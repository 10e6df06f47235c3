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
    "PASSPORT",
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


# IBAN lengths by country (ISO 13616 registry): a spaced IBAN trimmed group by group must land
# on its country's length, so a look-alike does not pass mod 97 by chance (1 in 97) when cut.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def _iban_ok(value: str) -> bool:
    compact = re.sub(r"[\s-]", "", value).upper()
    if not 15 <= len(compact) <= 34 or _IBAN_LENGTHS.get(compact[:2], len(compact)) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in moved)
    return int(numeric) % 97 == 1


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def _cn_id_ok(value: str) -> bool:
    value = re.sub(r"[ -]", "", value)  # also written 6-8-4: "110105 19491231 002X"
    body, check = value[:17], value[17].upper()
    total = sum(int(d) * w for d, w in zip(body, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == check


def _ip_ok(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_unspecified or address.is_loopback:
        return False  # not personal
    # "a::b" or "be::ef" in prose parse as IPv6; a real one has a digit or three groups
    return address.version == 4 or bool(re.search(r"\d", value)) or value.count(":") >= 3


def _ssn_ok(value: str) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 7 <= len(digits) <= 15


# Boundaries are explicit lookarounds on ASCII letters and digits, never `\b`: Python's `\w`
# counts CJK characters as word characters, so `\b` does not fall between "请通过" and
# "13756838140", and a rule ending in `(?![\w.])` loses "82.221.215.41." at a sentence end.
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# A loose IPv6 candidate (hex groups and colons, maybe an IPv4 tail); `ipaddress` decides. Far
# cheaper to scan than the full RFC 4291 alternation, which dominated redaction time.
# It never ends in a lone colon, so "fe80::1:" before a colon of the sentence still matches,
# and never starts on a label's colon ("地址：::1", full-width colons read as ASCII ones).
_IPV6 = (
    rf"(?!:::)(?:[0-9A-Fa-f]{{1,4}}:|:(?=:))(?:[0-9A-Fa-f]{{0,4}}:){{1,7}}"
    rf"(?:{_IPV4}|[0-9A-Fa-f]{{1,4}}|(?<=::))"
)
_URL_PATH = r"(?:/[A-Za-z0-9._~%!$&()*+,;=:@/?#\[\]-]*[A-Za-z0-9/_=&#%~-])?"

# (type, pattern, verifier). Order matters: earlier types win overlapping spans.
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    (
        "URL_CREDENTIALS",
        re.compile(
            r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://"
            r"[A-Za-z0-9._~%!$&'*+=-]+:[!-.0-?A-~]+@[A-Za-z0-9.-]*[A-Za-z0-9](?::\d+)?" + _URL_PATH
        ),
        None,
    ),
    (
        "EMAIL",
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}"
            r"(?![A-Za-z0-9-])"
        ),
        None,
    ),
    (
        "IBAN",
        re.compile(
            rf"{_L}[A-Z]{{2}}\d{{2}}(?:[ -]?[A-Z0-9]{{4}}){{2,7}}(?:[ -]?[A-Z0-9]{{1,4}})?{_R}"
        ),
        _iban_ok,
    ),
    (
        "CN_ID",
        re.compile(
            rf"{_L}[1-9]\d{{5}}([ -]?)(?:18|19|20)\d{{2}}(?:0[1-9]|1[0-2])"
            rf"(?:0[1-9]|[12]\d|3[01])\1\d{{3}}[\dXx]{_R}"
        ),
        _cn_id_ok,
    ),
    (
        "CREDIT_CARD",
        re.compile(r"(?<![A-Za-z0-9+-])(?:\d[ -]?){12,18}\d(?![A-Za-z0-9-])"),
        _luhn_ok,
    ),
    ("US_SSN", re.compile(r"(?<![A-Za-z0-9-])\d{3}-\d{2}-\d{4}(?![A-Za-z0-9-])"), _ssn_ok),
    (
        "IP_ADDRESS",
        re.compile(
            # "1.2.3.4.5" is no address; a dot that ends the sentence after one is fine
            rf"(?<![A-Za-z0-9.]){_IPV4}(?![A-Za-z0-9]|\.\d)"
            # "IP:fe80::1" and "IPv6：2408:..." are labels; after "ab:" we are inside a longer run
            rf"|(?<![A-Za-z0-9])(?<![0-9A-Fa-f]{{2}}:){_IPV6}(?![A-Za-z0-9]|\.\d)"
        ),
        _ip_ok,
    ),
    (
        "PHONE",
        re.compile(
            r"(?<![A-Za-z0-9+])(?<!\d[-.])(?:"  # not the tail of a longer dashed number
            # Chinese mobile, maybe with the country code
            r"(?:(?:\+|00)86[ -]?|86-|\(\+?86\)[ -]?)?1[3-9]\d[ .-]?\d{4}[ .-]?\d{4}"
            # international: +44 20 7946 0958, 0049 30 123456
            r"|(?:\+|00)[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
            r"|\(0\d{2,3}\)[ -]?\d{3,4}[ -]?\d{4}|0\d{2,3}-\d{3,4}[ -]?\d{4}"  # Chinese landline
            r"|\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"  # (555) 123-4567
            r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
            r")(?![A-Za-z0-9]|[-.]\d)"
        ),
        _phone_ok,
    ),
    # Passport numbers are a letter or two and 7-9 digits, like any product code: they count
    # only where "passport"/"护照" comes just before (see _NEEDS_BEFORE).
    ("PASSPORT", re.compile(rf"{_L}[A-Z]{{1,2}}\d{{7,9}}{_R}"), None),
)

# Words just before a number that say what it is when the shape alone cannot: "version
# 1.2.3.4" is a valid IPv4 address and "order 4539..." can pass Luhn by chance (1 in 10).
_NOT_PII_BEFORE = {
    "IP_ADDRESS": re.compile(
        r"(?i)(?<![A-Za-z])(?:version|ver\.?|release|build|v|版本号?|固件)\s*[:：]?\s*$"
    ),
    "CREDIT_CARD": re.compile(
        r"(?i)(?<![A-Za-z])(?:order|tracking|invoice|parcel|waybill|ref\.?|订单|单号|运单|快递|发票)"
        r"\s*(?:no\.?|number|#|号码?|编号)?\s*[:：#]?\s*$"
        # the tail of an IBAN that failed its checksum: "GB11 NQYO 3345 5504 9617 61"
        r"|(?<![A-Za-z])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4})*[ -]?$"
    ),
}

_NEEDS_BEFORE = {
    "PASSPORT": re.compile(
        r"(?i)(?:passport|护照|旅行证件)(?:\s*(?:no|nr|number)\.?)?[^。.!?！？\n]{0,16}$"
    ),
}

# Full-width forms (U+FF01-FF5E) and the ideographic space map one-to-one onto ASCII, so the
# rules see "１３８…" and "＠" as digits and "@" while spans still index the original text.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def find_pii(text: str, *, names: bool = False, name_model: str | None = None) -> list[Finding]:
    """All verified identifiers in `text`, non-overlapping, in order of position.

    `names` adds person names; `name_model` (an NER model reference) finds the Chinese ones
    instead of jieba's tags and rules.
    """
    plain = text.translate(_HALF_WIDTH)
    taken: list[Finding] = []
    for kind, pattern, verify in _RULES:
        for match in pattern.finditer(plain):
            value = _verified(match.group(0), verify, trim=kind in _GROUPED)
            start, end = match.start(), match.start() + len(value)
            if value and not _overlaps(taken, start, end) and not _told_apart(kind, plain, start):
                taken.append(Finding(kind, start, end, text[start:end]))
    if names or name_model:
        from llmline.data.pii_names import person_names

        for finding in person_names(text, name_model=name_model):
            if not _overlaps(taken, finding.start, finding.end):
                taken.append(finding)
    return sorted(taken, key=lambda f: f.start)


def _told_apart(kind: str, text: str, start: int) -> bool:
    """Whether the words right before the match rule it out (a version, an order number, a
    letter-and-digits code that no "passport"/"护照" introduces)."""
    ruled_out = _NOT_PII_BEFORE.get(kind)
    if ruled_out is not None and ruled_out.search(text, max(0, start - 16), start):
        return True
    needed = _NEEDS_BEFORE.get(kind)
    return needed is not None and not needed.search(text, max(0, start - 24), start)


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


class Redactor:
    """Replaces findings by mask, consistent pseudonym or salted hash; counts per type.

    Pseudonyms are stable within one Redactor (same value -> same `<EMAIL_3>`), so a thread
    keeps its structure after redaction; hashes are stable across runs with the same salt.
    """

    def __init__(
        self, *, mode: str = "mask", salt: str = "", names: bool = False,
        name_model: str | None = None,
    ) -> None:  # fmt: skip
        if mode not in MODES:
            from llmline.errors import SpecError

            raise SpecError(f"unknown redaction mode {mode!r}", fix=f"use one of {MODES}")
        self.mode, self.salt, self.names, self.name_model = mode, salt, names, name_model
        self._aliases: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        counts: Counter[str] = Counter()
        pieces, cursor = [], 0
        for finding in find_pii(text, names=self.names, name_model=self.name_model):
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

    def __init__(
        self, *, mode: str = "mask", salt: str = "", names: bool = False,
        name_model: str | None = None,
    ) -> None:  # fmt: skip
        self.redactor = Redactor(mode=mode, salt=salt, names=names, name_model=name_model)
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
    names: bool = Field(
        False,
        description="Also redact person names: English by a spaCy pipeline, Chinese by jieba.",
    )
    name_model: str | None = Field(
        None,
        description="An NER model (models:/NAME@ALIAS, a run or model dir) whose person "
        "entities are the Chinese names to redact, instead of jieba's tags; implies names.",
    )


# Row-local unless pseudonyms must stay consistent (<EMAIL_1> is the same address everywhere).
@register_step("redact", config=RedactSpec, row_local=lambda spec: spec.mode != "pseudonym")
def redact(spec: RedactSpec) -> RedactStep:
    return RedactStep(**spec.model_dump())
