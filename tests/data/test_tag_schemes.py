"""Tag schemes to IOB2, CLUENER span files, on hand-made and real corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.data.span_json import is_span_row, span_sentence
from llmline.data.tag_schemes import explicit_end_scheme, to_iob2
from llmline.errors import DataError


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-NAME", "E-NAME", "O"], ["B-NAME", "I-NAME", "O"]),  # BMES (Resume)
        (["B-CONT", "M-CONT", "M-CONT", "E-CONT"], ["B-CONT", "I-CONT", "I-CONT", "I-CONT"]),
        (["S-LOC", "S-LOC", "O"], ["B-LOC", "B-LOC", "O"]),  # two one-character entities
        (["B-PER.NAM", "I-PER.NAM", "E-PER.NAM"], ["B-PER.NAM", "I-PER.NAM", "I-PER.NAM"]),
        (["U-ORG", "B-ORG", "L-ORG"], ["B-ORG", "B-ORG", "I-ORG"]),  # BILOU
        (["B_body", "E_body"], ["B-body", "I-body"]),  # underscore separator
    ],
)
def test_explicit_end_schemes_become_iob2(tags: list[str], expected: list[str]) -> None:
    assert to_iob2(tags, explicit_end=True, where="t").tags == expected


def test_bio_with_underscores_and_iob1_starts() -> None:
    conversion = to_iob2(["I-PER", "I-PER", "O", "B_disease", "I_disease"], explicit_end=False,
                         where="t")  # fmt: skip
    assert conversion.tags == ["B-PER", "I-PER", "O", "B-disease", "I-disease"]
    assert conversion.iob1_starts == 1 and not conversion.repairs


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        (["O", "M-ORG", "E-ORG"], "continues no 'ORG' entity"),
        (["B-NAME", "O"], "'NAME' is not closed"),
        (["B-NAME", "E-TITLE"], "continues no 'TITLE' entity"),
        (["B-NAME", "M-NAME"], "'NAME' is not closed"),  # runs off the end
    ],
)
def test_broken_bmes_is_repaired_and_counted_or_refused_when_strict(
    tags: list[str], problem: str
) -> None:
    conversion = to_iob2(tags, explicit_end=True, where="train.bmes:7")
    assert len(conversion.repairs) == 1 and problem in conversion.repairs[0]
    assert "train.bmes:7" in conversion.repairs[0]
    assert all(t == "O" or t[:2] in ("B-", "I-") for t in conversion.tags)
    with pytest.raises(DataError, match="broken tag sequence") as err:
        to_iob2(tags, explicit_end=True, where="train.bmes:7", strict=True)
    assert "train.bmes:7" in str(err.value)


@pytest.mark.parametrize("tag", ["X-PER", "B-", "B", "PER", "O-PER"])
def test_a_tag_that_is_no_entity_tag_is_an_error(tag: str) -> None:
    with pytest.raises(DataError, match="not an entity tag"):
        to_iob2(["O", tag], explicit_end=False, where="f:3")


def test_scheme_detection() -> None:
    assert explicit_end_scheme([["O"], ["B-X", "E-X"]])
    assert not explicit_end_scheme([["B-X", "I-X", "O"], ["O"]])
    assert not explicit_end_scheme([["O", "B-MISC"]])  # "MISC" does not make it BMES


def test_cluener_spans_become_character_tags() -> None:
    row = {
        "text": "浙商银行企业信贷部叶老桂博士则从另一个角度解读。叶老桂认为",
        "label": {"name": {"叶老桂": [[9, 11], [24, 26]]}, "company": {"浙商银行": [[0, 3]]}},
    }
    assert is_span_row(row)
    sentence = span_sentence(row, where="train.json:1")
    assert sentence.tokens == list(row["text"])
    assert sentence.tags[:5] == ["B-company", "I-company", "I-company", "I-company", "O"]
    assert sentence.tags[9:12] == ["B-name", "I-name", "I-name"]
    assert sentence.tags[24:27] == ["B-name", "I-name", "I-name"]
    assert sentence.tags.count("O") == len(row["text"]) - 10


def test_cluener_overlaps_are_dropped_and_counted_spaces_skipped() -> None:
    row = {
        "text": "北京 大学",
        "label": {"org": {"北京 大学": [[0, 4]]}, "loc": {"北京": [[0, 1]]}},
    }
    sentence = span_sentence(row, where="x")
    assert sentence.tokens == ["北", "京", "大", "学"]
    assert sentence.tags == ["B-org", "I-org", "I-org", "I-org"]
    assert sentence.overlaps_dropped == 1


@pytest.mark.parametrize(
    "label",
    [
        {"name": {"叶老桂": [[8, 10]]}},  # off by one: covers other characters
        {"name": {"叶老桂": [[9, 99]]}},  # past the end
        {"name": {"叶老桂": [9, 11]}},  # not a list of spans
        {"name": ["叶老桂"]},  # mentions not a mapping
    ],
)
def test_cluener_bad_spans_name_the_line(label: dict[str, object]) -> None:
    row = {"text": "浙商银行企业信贷部叶老桂博士", "label": label}
    with pytest.raises(DataError) as err:
        span_sentence(row, where="dev.json:12")
    assert "dev.json:12" in str(err.value)


def _tag_lists(path: Path) -> list[list[str]]:
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split()
        if not columns:
            if current:
                sentences.append(current)
            current = []
            continue
        current.append(columns[-1])
    return sentences + ([current] if current else [])


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "broken"),
    [("resume-ner/train.char.bmes", 4), ("weibo-ner/train.all.bmes", 8),
     ("cmedqa-ner/train.txt", 0), ("resume-ner/dev.char.bmes", 0)],
)  # fmt: skip
def test_real_corpora_convert_with_their_known_broken_sentences(
    shared_datasets: Path, name: str, broken: int
) -> None:
    sentences = _tag_lists(shared_datasets / name)
    explicit = explicit_end_scheme(sentences)
    conversions = [to_iob2(s, explicit_end=explicit, where=name) for s in sentences]
    assert sum(bool(c.repairs) for c in conversions) == broken
    assert all(len(c.tags) == len(s) for c, s in zip(conversions, sentences, strict=True))


@pytest.mark.integration
def test_real_cluener_file_reads_whole(shared_datasets: Path) -> None:
    lines = (shared_datasets / "cluener/train.json").read_text(encoding="utf-8").splitlines()
    sentences = [span_sentence(json.loads(line), where=str(i)) for i, line in enumerate(lines)]
    assert len(sentences) == 10748
    types = {t[2:] for s in sentences for t in s.tags if t != "O"}
    assert len(types) == 10  # CLUENER's ten fine-grained types
