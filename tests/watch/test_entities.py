"""The entity linker: aliases in both languages, codes, boundaries, overlaps, duplicate aliases."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmline.errors import DataError
from llmline.watch.entities import EntityLinker, is_org_label, load_watch_list
from llmline.watch.ingest import Post


def linked(linker: EntityLinker, text: str) -> list[tuple[str, str]]:
    return [(m.entity, m.surface) for m in linker.link([text])[0]]


@pytest.fixture()
def linker(watch_list: Path) -> EntityLinker:
    return EntityLinker(load_watch_list(watch_list))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "贵州茅台(600519.SH)大涨",
            [("Kweichow Moutai", "贵州茅台"), ("Kweichow Moutai", "600519.SH")],
        ),
        (
            "【茅台】600519.SH，跌停！",
            [("Kweichow Moutai", "茅台"), ("Kweichow Moutai", "600519.SH")],
        ),
        (
            "腾讯控股0700.HK、平安银行和中国平安",
            [
                ("Tencent", "腾讯控股"),
                ("Tencent", "0700.HK"),
                ("Ping An Bank", "平安银行"),
                ("Ping An", "中国平安"),
            ],
        ),
        ("sh600519涨停", [("Kweichow Moutai", "sh600519")]),
        ("$AAPL and $BRK.B rallied", [("Apple", "$AAPL"), ("Berkshire Hathaway", "$BRK.B")]),
        ("APPLE INC. sued; apple shares fell", [("Apple", "APPLE INC."), ("Apple", "apple")]),
        ("苹果Apple公司", [("Apple", "苹果"), ("Apple", "Apple")]),
    ],
)
def test_links_both_languages_at_tight_boundaries(
    linker: EntityLinker, text: str, expected: list[tuple[str, str]]
) -> None:
    assert linked(linker, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pineapple and Applebee's are not Apple",  # only the last word is the company
        "AAPLX is a fund, not a ticker; XAAPL neither",
        "The U.S. market, a $5 coffee and 1600519.SHX",
        "berkshires? no: Berkshire's.",
    ],
)
def test_no_match_inside_longer_words(linker: EntityLinker, text: str) -> None:
    found = linked(linker, text)
    assert all(surface.lower() not in ("aaplx", "xaapl", "pineapple") for _, surface in found)
    if text.startswith("Pineapple"):
        assert found == [("Apple", "Apple")]
    if text.startswith("AAPLX") or text.startswith("The U.S."):
        assert found == []
    if text.startswith("berkshires"):
        assert found == [("Berkshire Hathaway", "Berkshire")]


def test_longest_alias_wins(linker: EntityLinker) -> None:
    # 平安银行 (Ping An Bank) contains 平安 (Ping An): the longer alias takes the span
    assert linked(linker, "平安银行发布年报") == [("Ping An Bank", "平安银行")]
    assert linked(linker, "中国平安和平安") == [("Ping An", "中国平安"), ("Ping An", "平安")]


def test_unlisted_codes_become_entities_unless_disabled(watch_list: Path) -> None:
    text = "$TSLA暴跌, 1810.HK and MSFT.O"
    listed = EntityLinker(load_watch_list(watch_list))
    assert [m.entity for m in listed.link([text])[0]] == ["TSLA", "1810.HK", "MSFT.O"]
    assert not any(m.listed for m in listed.link([text])[0])
    only_list = EntityLinker(load_watch_list(watch_list), link_unlisted=False)
    assert only_list.link([text]) == [[]]


class StandInTagger:
    """What an NER predictor returns: spans with character offsets and a type."""

    def predict(self, texts: list[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        out = []
        for text in texts:
            spans = []
            for name, label in (("比亚迪", "ORG"), ("Moutai", "ORG"), ("Paris", "LOC")):
                start = text.find(name)
                if start >= 0:
                    spans.append({"label": label, "start": start, "end": start + len(name)})
            out.append({"entities": spans})
        return out


def test_ner_adds_unlisted_organisations_only(watch_list: Path) -> None:
    linker = EntityLinker(load_watch_list(watch_list), tagger=StandInTagger())
    found = linker.link(["比亚迪在Paris开店，Moutai也去了"])[0]
    assert [(m.entity, m.source, m.listed) for m in found] == [
        ("比亚迪", "ner", False),
        ("Kweichow Moutai", "list", True),  # the list wins the span the tagger also found
    ]


def test_each_language_goes_to_its_own_tagger(watch_list: Path) -> None:
    class Everything:
        """Tags every text whole as one ORG and remembers what it saw."""

        def __init__(self) -> None:
            self.seen: list[str] = []

        def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
            self.seen += texts
            return [{"entities": [{"label": "ORG", "start": 0, "end": len(t)}]} for t in texts]

    english, chinese = Everything(), Everything()
    linker = EntityLinker(load_watch_list(watch_list), taggers={"en": english, "zh": chinese})
    texts = ["Zeta Corp", "宁德时代", "Bonjour Zeta"]
    found = linker.link(texts, ["en", "zh", "fr"])
    assert english.seen == ["Zeta Corp"] and chinese.seen == ["宁德时代"]
    assert [[m.entity for m in mentions] for mentions in found] == [["Zeta Corp"], ["宁德时代"], []]


def test_duplicate_alias_names_both_entities_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        "entity,aliases,language\n中国平安,平安|Ping An,zh\n平安银行,平安银行|ping an,zh\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as caught:
        load_watch_list(path)
    message = caught.value.message
    assert "'中国平安'" in message and "'平安银行'" in message
    assert f"{path}:3" in message and "line 2" in message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("name,aliases\nX,y\n", "lacks column"),
        ("entity,aliases,language\n,foo,en\n", "empty or reserved"),
        ("entity,aliases,language\n*,all,en\n", "empty or reserved"),
        ("entity,aliases,language\nA,a1,en\nA,a2,en\n", "listed twice"),
        ("entity,aliases,language\n", "no entities"),
    ],
)
def test_bad_watch_lists_are_clear_errors(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=needle):
        load_watch_list(path)


def test_a_large_watch_list_links_by_trie(tmp_path: Path) -> None:
    """3,000 aliases: the trie regex still finds the longest alias at tight boundaries."""
    rows = ["entity,aliases,language"]
    rows += [f"Company {i},Comp{i} Holdings|C{i}|公司{i}号,en" for i in range(1000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    linker = EntityLinker(load_watch_list(path))
    found = linked(
        linker, "comp12 holdings beat C999; C1000 is unknown, 公司77号大涨 and company 5"
    )
    assert found == [
        ("Company 12", "comp12 holdings"), ("Company 999", "C999"),
        ("Company 77", "公司77号"), ("Company 5", "company 5"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "is_org"),
    [("ORG", True), ("org", True), ("ORG.NAM", True), ("company", True), ("organization", True),
     ("NT", True), ("ORG.NOM", False), ("PER", False), ("LOC", False), ("GPE.NAM", False),
     ("ORGAN", False)],
)  # fmt: skip
def test_which_ner_labels_name_organisations(label: str, is_org: bool) -> None:
    assert is_org_label(label) is is_org


def _tiny_org_tagger(tiny_bert_dir: Path, directory: Path) -> Path:
    """A saved token-classification model (the `ner` task's layout) that tags every word B-ORG:
    its head is zero but for the bias, so what it finds is known without training it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from llmline.models.meta import ModelMeta
    from llmline.models.ner import label_config

    tags = ["O", "B-ORG", "I-ORG"]
    config = BertConfig.from_pretrained(tiny_bert_dir, **label_config(tags))
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    meta = ModelMeta(labels=tags, pooling="token", normalize=False, max_length=32, task="ner",
                     extra={"word_unit": "word", "token_unit": "piece"})  # fmt: skip
    meta.save(directory)
    return directory


def test_the_spec_ner_model_adds_unlisted_organisations(
    tiny_bert_dir: Path, watch_list: Path, tmp_path: Path
) -> None:
    from llmline.watch.runner import build_stream
    from llmline.watch.sentiment import TargetSentiment
    from llmline.workspace import Workspace

    from .conftest import StandInPredictor, make_spec

    tagger = _tiny_org_tagger(tiny_bert_dir, tmp_path / "org-ner")
    spec = make_spec(watch_list, tmp_path, ner_model=str(tagger))
    stream = build_stream(
        spec, Workspace.resolve(tmp_path / "ws"), sentiment=TargetSentiment(StandInPredictor())
    )
    found = stream.linker.link(["Zeta 贵州茅台"])[0]
    # every word is an ORG to this tagger: "Zeta" is a new entity; the list keeps 贵州茅台,
    # whose characters the tagger also tagged (a longer span beats them)
    assert ("Zeta", "ner", False) in [(m.entity, m.source, m.listed) for m in found]
    listed = [m for m in found if m.source == "list"]
    assert [(m.entity, m.surface) for m in listed] == [("Kweichow Moutai", "贵州茅台")]
    assert all(m.end <= listed[0].start for m in found if m.source == "ner")
    stream.process([Post("Zeta and $AAPL", 1_764_460_800.0, "t:1")])
    assert {r["entity"] for r in stream.store.links()} >= {"Zeta", "Apple"}
