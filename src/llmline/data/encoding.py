"""Decode a file's bytes: BOMs first, then UTF-8, then GB18030 or what charset-normalizer finds.

Chinese files exported by Excel or older Windows tools are GBK/GB18030. charset-normalizer
finds that on long files but ties (and then prefers cp949, Korean) on a few short lines, and
finds nothing when the file ends inside a character. So GB18030 wins whenever it decodes the
bytes into text that reads as Chinese (GB2312 hanzi and CJK punctuation, which Big5, Shift-JIS
or Latin-1 bytes misread as GB18030 do not give) and charset-normalizer rates it no worse than
its own best guess. The detected encoding goes into the data report, so a wrong guess is
visible and `source.encoding` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmline.errors import DataError

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_GB_FAMILY = frozenset({"gb18030", "gbk", "gb2312", "hz"})
_CJK_PUNCT = frozenset("“”‘’…—·～　、。〈〉《》「」『』【】〔〕")
_WIDESPREAD = ("cp1252", "iso8859_1", "big5", "cp932", "cp949", "cp1251")
_SAMPLE = 20_000  # non-ASCII characters looked at to judge "reads as Chinese"


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    truncated_bytes: int = 0  # an incomplete last character (a file cut short), dropped


def decode(raw: bytes, encoding: str | None = None, *, where: str) -> Decoded:
    """The text of `raw` in the given encoding, or in the detected one when none is given."""
    if encoding:
        decoded = _strict(raw, encoding)
        if decoded is None:
            raise DataError(
                f"file {where!r} cannot be decoded as {encoding}",
                fix="set source.encoding to the file's real encoding or null to detect it",
            )
        return decoded
    decoded = detect(raw)
    if decoded is None:
        raise DataError(
            f"file {where!r} is not text in any encoding we can detect",
            fix="convert it to UTF-8 or set source.encoding",
        )
    return decoded


def detect(raw: bytes) -> Decoded | None:
    """The most plausible decoding of `raw`, or None when nothing fits."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return _strict(raw, name)
    utf8 = _strict(raw, "utf-8")
    if utf8 is not None:
        return utf8
    from charset_normalizer import from_bytes

    chinese = _strict(raw, "gb18030")
    body = raw[: len(raw) - chinese.truncated_bytes] if chinese else raw
    matches = list(from_bytes(body))
    best = matches[0] if matches else None
    if chinese is not None and reads_as_chinese(chinese.text):
        gb = next((m for m in matches if m.encoding in _GB_FAMILY), None)
        if best is None or best.encoding in _GB_FAMILY or (gb and gb.chaos <= best.chaos):
            return chinese
    if best is None or best.encoding is None:
        return None
    # ties are common on short text: among equally good guesses take the most widespread
    tied = [m.encoding for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    name = next((e for e in _WIDESPREAD if e in tied), best.encoding)
    decoded = _strict(raw, name)
    return decoded if decoded is not None else Decoded(str(best), best.encoding)


def reads_as_chinese(text: str) -> bool:
    """Whether the non-ASCII characters are (nearly all) GB2312 hanzi or CJK punctuation."""
    sample = [c for c in text[: _SAMPLE * 4] if ord(c) > 127][:_SAMPLE]
    hanzi = sum(_gb2312_hanzi(c) for c in sample)
    punct = sum(c in _CJK_PUNCT or 0xFF01 <= ord(c) <= 0xFF5E for c in sample)
    return hanzi > 0 and hanzi + punct >= 0.9 * len(sample)


def _gb2312_hanzi(char: str) -> bool:
    try:
        code = char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(code) == 2 and 0xB0 <= code[0] <= 0xF7


def _strict(raw: bytes, encoding: str) -> Decoded | None:
    """Strict decoding; only an incomplete last character (a cut-off file) is tolerated."""
    try:
        return Decoded(raw.decode(encoding), encoding)
    except LookupError:
        return None
    except UnicodeDecodeError as exc:
        if exc.end < len(raw) or exc.start < len(raw) - 3:
            return None
        try:
            return Decoded(raw[: exc.start].decode(encoding), encoding, len(raw) - exc.start)
        except UnicodeDecodeError:
            return None
