"""Entity tag schemes read as they are written, and converted to IOB2 (what seqeval scores).

Chinese NER corpora write BMES (Resume: B-NAME M-NAME E-NAME, S-X for one character), BIOES /
BILOU, `B_type` with an underscore (CMeEE-style), or `B-PER.NAM` (Weibo); English ones IOB1 or
IOB2. Written here rather than taken from seqeval, whose scheme classes validate but do not
convert and accept only `-` as the separator.

In an explicit-end scheme (one with E/S/L/U/M tags) an inside or end tag must continue an
entity of the same type and every entity must end: a sequence that breaks this is broken. The
official Resume and Weibo training files have a few such sentences (4 and 8), so by default a
broken sequence is repaired the way seqeval reads it leniently (a stray inside tag starts an
entity, an unclosed one ends where it stops) and counted with its place for the data report;
with `strict` it is an error naming the line. In BIO files an `I-X` that opens an entity is
IOB1's way of writing it and becomes `B-X` (counted too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmline.errors import DataError

# prefix, separator, type: "B-PER", "B_disease", "M-CONT", "S-NAME", "I-PER.NAM"
TAG = re.compile(r"^(?P<prefix>[BIOEMSLU])(?:[-_](?P<type>.+))?$")
BEGIN, INSIDE, END, SINGLE = "B", "I", "E", "S"
# BILOU and BMES letters mapped onto BIOES.
CANONICAL = {"B": BEGIN, "I": INSIDE, "M": INSIDE, "E": END, "L": END, "S": SINGLE, "U": SINGLE}
EXPLICIT_END = {"E", "S", "L", "U", "M"}


@dataclass
class Conversion:
    """Tags in IOB2; how many IOB1-style starts (`I-X` opening an entity) became `B-X`; the
    problems of a broken explicit-end sequence that were repaired (empty when it was sound)."""

    tags: list[str]
    iob1_starts: int = 0
    repairs: list[str] = field(default_factory=list)


def parse_tag(tag: str, *, where: str) -> tuple[str, str | None]:
    """(canonical prefix B/I/E/S or O, entity type or None for O)."""
    if tag == "O":
        return "O", None
    match = TAG.match(tag)
    if match is None or match.group("type") is None or match.group("prefix") == "O":
        raise DataError(
            f"tag {tag!r} is not an entity tag",
            where=where,
            fix="write O, or PREFIX-TYPE / PREFIX_TYPE with PREFIX one of B I E S M L U",
        )
    return CANONICAL[match.group("prefix")], match.group("type")


def explicit_end_scheme(tag_lists: list[list[str]]) -> bool:
    """Whether a corpus marks entity ends (BIOES, BMES, BILOU): then I-X must be followed by
    I-X or E-X, and a lone I-X is an error rather than IOB1."""
    return any(t[:1] in EXPLICIT_END and len(t) > 2 for tags in tag_lists for t in tags)


def to_iob2(tags: list[str], *, explicit_end: bool, where: str, strict: bool = False) -> Conversion:
    """Convert one sentence's tags to IOB2, repairing (or, strict, refusing) broken sequences."""
    out: list[str] = []
    open_type: str | None = None  # type of the entity the previous tag leaves open
    conversion = Conversion(out)
    for position, tag in enumerate(tags):
        prefix, kind = parse_tag(tag, where=f"{where}, token {position + 1}")
        if prefix in (BEGIN, SINGLE) or prefix == "O":
            if explicit_end and open_type is not None:
                _broken(conversion, tags, position, f"entity {open_type!r} is not closed",
                        where, strict=strict)  # fmt: skip
            out.append("O" if kind is None else f"B-{kind}")
            open_type = kind if prefix == BEGIN else None
            continue
        continues = open_type == kind
        if not continues and explicit_end:
            _broken(conversion, tags, position, f"{tag!r} continues no {kind!r} entity", where,
                    strict=strict)  # fmt: skip
        elif not continues:
            conversion.iob1_starts += 1
        out.append(f"{'I' if continues else 'B'}-{kind}")
        open_type = None if prefix == END else kind
    if explicit_end and open_type is not None:
        _broken(conversion, tags, len(tags), f"entity {open_type!r} is not closed", where,
                strict=strict)  # fmt: skip
    return conversion


def _broken(
    conversion: Conversion, tags: list[str], position: int, problem: str, where: str, *,
    strict: bool,
) -> None:  # fmt: skip
    context = " ".join(tags[max(0, position - 2) : position + 1])
    message = f"broken tag sequence at token {position + 1}: {problem} (... {context})"
    if strict:
        raise DataError(
            message,
            where=where,
            fix="an entity runs B, I/M..., E (or a single S); fix the tags of this sentence, "
            "or leave data.strict off to repair such sequences and count them",
        )
    conversion.repairs.append(f"{where}: {message}")
