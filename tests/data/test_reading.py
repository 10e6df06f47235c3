"""Every physical record is read or rejected with a reason and its line; nothing vanishes.

Nasty inputs in English and Chinese: stray quotes, quoted newlines, BOMs, CRLF, GB18030/GBK,
blank lines, a last line without newline, ragged rows, broken JSON lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.data.encoding import detect, reads_as_chinese
from llmline.data.record import Record
from llmline.data.sources import ReadTally, read_records
from llmline.data.stage import prepare_data
from llmline.errors import DataError
from llmline.spec import DataSpec, SourceSpec, load_spec


def _read(path: Path, **source: object) -> tuple[list[Record], ReadTally]:
    tally = ReadTally("data.source", str(path))
    spec = SourceSpec(path=path, **source)  # type: ignore[arg-type]
    return list(read_records(spec, strict=False, max_bad_fraction=1.0, tally=tally)), tally


def _accounted(tally: ReadTally) -> None:
    assert tally.records == tally.read + sum(tally.rejected.values())


def test_tsv_takes_stray_quotes_literally(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text(
        "label\ttext_a\n"
        '1\t"此期间预订，入住首日酒店赠送洗衣券\n'  # opens a quote it never closes
        "0\t房间太小。其他的都一般\n"
        '1\t服务也"太到位"了吧\n'
        '0\t"PC卡插槽"为什么我找不到\n'
        '1\t"a really quoted field, with ""inner"" quotes"\n'
        '0\tHe said "it\'s fine" and left\n'
        '1\t"\n',
        encoding="utf-8",
    )
    records, tally = _read(path, text_column="text_a")
    assert [r.text for r in records] == [
        '"此期间预订，入住首日酒店赠送洗衣券',
        "房间太小。其他的都一般",
        '服务也"太到位"了吧',
        '"PC卡插槽"为什么我找不到',
        'a really quoted field, with "inner" quotes',
        'He said "it\'s fine" and left',
        '"',
    ]
    assert [r.label for r in records] == ["1", "0", "1", "0", "1", "0", "1"]
    assert tally.records == tally.read == 7 and tally.literal_quote_lines == [2, 5, 8]


def test_csv_quoted_newlines_crlf_bom_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    text = (
        "text,label\r\n"
        '"first line\r\nsecond line, with a comma",en\r\n'
        "\r\n"
        '"第一行\n第二行，""引号""",zh\r\n'
        "   \r\n"
        "plain row,en\r\n"
        '"last row, no newline",zh'
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    records, tally = _read(path)
    assert [r.text for r in records] == [
        "first line\nsecond line, with a comma",  # line endings inside fields become \n
        '第一行\n第二行，"引号"',
        "plain row",
        "last row, no newline",
    ]
    assert tally.encoding == "utf-8-sig" and tally.blank_lines == 2
    assert tally.records == tally.read == 4 and not tally.rejected


def test_csv_stray_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    rows = ['0,"bad start of a review', "1,下一条评论", '0,他说"好"的', "1,another one"]
    rows += ['0,"closes later", then text', "1,fine"]
    path = tmp_path / "stray.csv"
    path.write_text("label,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    records, tally = _read(path)
    assert [r.text for r in records if r.dropped is None] == [
        '"bad start of a review',
        "下一条评论",
        '他说"好"的',
        "another one",
        "fine",
    ]
    # a properly quoted field followed by more text is a third column: rejected, not guessed
    assert tally.read == 5 and tally.rejected_lines == {"too_many_columns": [6]}
    assert tally.literal_quote_lines == [2]


def test_unreadable_quoting_and_ragged_rows_are_rejected_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        "id,text,label\n"
        "1,ok row,a\n"
        "2,too few\n"
        '3,"unclosed, with, commas,b\n'
        "4,too,many,columns,x\n"
        "5,trailing empty fields are fine,b,,\n"
        "6,中文行,a\n",
        encoding="utf-8",
    )
    records, tally = _read(path)
    assert [r.text for r in records if r.dropped is None] == [
        "ok row",
        "trailing empty fields are fine",
        "中文行",
    ]
    _accounted(tally)
    assert tally.rejected == {"too_few_columns": 1, "too_many_columns": 2}
    assert tally.rejected_lines == {"too_few_columns": [3], "too_many_columns": [4, 5]}
    bad = [r for r in records if r.dropped]
    assert [r.meta["where"] for r in bad] == [f"{path}:3", f"{path}:4", f"{path}:5"]
    assert all(r.dropped == "bad_row" for r in bad)


def test_ragged_tsv_rows(tmp_path: Path) -> None:
    path = tmp_path / "ragged.tsv"
    path.write_text("label\ttext\n1\tgood\n0\n1\ta\tb\n\n0\t好\n", encoding="utf-8")
    records, tally = _read(path)
    assert [r.text for r in records if r.dropped is None] == ["good", "好"]
    assert tally.rejected_lines == {"too_few_columns": [3], "too_many_columns": [4]}
    assert tally.blank_lines == 1
    _accounted(tally)


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_short_chinese_files_in_gb_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "short.csv"
    path.write_bytes("label,text\n1,很好\n0,太差了\n".encode(encoding))
    records, tally = _read(path)
    assert [r.text for r in records] == ["很好", "太差了"] and tally.encoding == "gb18030"


def test_file_cut_inside_a_character_is_read_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.tsv"
    path.write_bytes("label\ttext\n1\t高血压患者能吃党参吗\n".encode("gb18030")[:-2])
    records, tally = _read(path)
    assert records[0].text == "高血压患者能吃党参" and tally.truncated_bytes == 1


def test_utf16_tsv_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "excel.tsv"
    path.write_bytes("text\tlabel\r\n你好\tzh\r\nhello\ten\r\n".encode("utf-16"))
    records, tally = _read(path)
    assert [(r.text, r.label) for r in records] == [("你好", "zh"), ("hello", "en")]
    assert tally.encoding == "utf-16"


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("這家酒店的服務很好，房間乾淨。", "big5", "big5"),
        ("これは日本語のテキストです。東京に住んでいます。", "shift_jis", "cp932"),
        ("안녕하세요 저는 학생입니다 한국어를 공부합니다", "euc-kr", "cp949"),
        ("café crème brûlée, naïve façade", "latin-1", "cp1252"),
        ("这家酒店的服务很好，房间干净，下次还会再来。", "gbk", "gb18030"),
    ],
)
def test_detection_tells_chinese_from_its_look_alikes(
    text: str, encoding: str, expected: str
) -> None:
    decoded = detect(text.encode(encoding))
    assert decoded is not None and decoded.encoding == expected and decoded.text == text


def test_reads_as_chinese() -> None:
    assert reads_as_chinese("患者张三在北京协和医院确诊糖尿病。")
    assert not reads_as_chinese("硂產皊┍狝叭┬丁爱瞓Ω临穦ㄓ")  # Big5 bytes read as GB18030
    assert not reads_as_chinese("plain ASCII")


def test_jsonl_broken_lines_blank_lines_and_line_separators(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "line\u2028separator inside", "label": "a"}, ensure_ascii=False)]
    lines += ['{"text": "unterminated', "", "[1, 2]", json.dumps({"text": "好", "label": "b"})]
    lines += ["   ", '{"text": "crlf row", "label": "a"}']
    path = tmp_path / "rows.jsonl"
    path.write_bytes(("\r\n".join(lines)).encode("utf-8"))
    records, tally = _read(path)
    assert [r.text for r in records if r.dropped is None] == [
        "line\u2028separator inside",
        "好",
        "crlf row",
    ]
    assert tally.rejected_lines == {"invalid_json": [2], "not_an_object": [4]}
    assert tally.blank_lines == 2
    _accounted(tally)


def test_strict_and_max_bad_fraction_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label\n" + "".join(f"row {i},a\n" for i in range(8)) + "x\ny\n")
    with pytest.raises(DataError, match=r"bad\.csv:10.*has 1 columns, the header has 2"):
        list(read_records(SourceSpec(path=path), strict=True))
    list(read_records(SourceSpec(path=path), strict=False, max_bad_fraction=0.3))
    with pytest.raises(DataError, match=r"2 of 10 rows cannot be read"):
        list(read_records(SourceSpec(path=path), strict=False, max_bad_fraction=0.1))


def test_implausibly_long_rows_are_flagged(tmp_path: Path) -> None:
    rows = [f"review {i} is short,a" for i in range(30)]
    rows.insert(10, '"' + "\n".join(f"swallowed line {i}, " for i in range(60)) + '",b')
    rows.insert(20, "x" * 6000 + ",a")
    path = tmp_path / "long.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    records, tally = _read(path)
    assert len(records) == 32
    assert [(row["line"], row["lines"]) for row in tally.long_rows] == [(12, 60), (81, 1)]


def test_data_report_accounts_for_every_record(tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    source.write_text(
        "text,label\n"
        + "".join(f"row number {i},{'ab'[i % 2]}\n" for i in range(20))
        + '"第一行\n第二行",a\nragged\n\n"closed" then more,b\n'
    )
    validation = tmp_path / "dev.tsv"
    validation.write_text("text\tlabel\nheld out one\ta\nheld out two\tb\nbroken\n")
    spec = DataSpec(
        source=SourceSpec(path=source), validation=SourceSpec(path=validation), max_bad_fraction=0.5
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    train, dev = artifact.report["reading"]
    assert (train["records"], train["read"], train["rejected"]) == (23, 22, {"too_few_columns": 1})
    assert train["rejected_lines"] == {"too_few_columns": [24]} and train["blank_lines"] == 1
    assert (dev["key"], dev["records"], dev["read"]) == ("data.validation", 3, 2)
    assert artifact.report["rows_in"] == 23
    markdown = (tmp_path / "out" / "data_report.md").read_text()
    assert "## Reading" in markdown and "rejected as `too_few_columns` (lines 24)" in markdown


def test_max_rows_counts_only_what_was_taken(tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    source.write_text("text,label\n" + "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(50)))
    spec = DataSpec(source=SourceSpec(path=source), max_rows=20)
    (tally,) = prepare_data(spec, tmp_path / "out", seed=0).report["reading"]
    assert tally["records"] == 20 and tally["limited"]


@pytest.mark.integration
def test_chnsenticorp_reads_all_9600_reviews(shared_datasets: Path, tmp_path: Path) -> None:
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "chnsenticorp-governed.yaml"
    spec = load_spec(recipe, {"data_dir": str(shared_datasets / "chnsenticorp")})
    artifact = prepare_data(spec.data, tmp_path / "out", seed=0)
    train, dev = artifact.report["reading"]
    assert (train["records"], train["read"], train["rejected"]) == (9600, 9600, {})
    assert (dev["records"], dev["read"]) == (1200, 1200)
    assert artifact.report["rows_in"] == 9600 and train["long_rows"] == []
    assert artifact.report["text_chars"]["max"] < 5000


@pytest.mark.integration
def test_medical_dialogue_is_detected_as_gb18030(shared_datasets: Path) -> None:
    path = shared_datasets / "medical-dialogue" / "sample.csv"
    records, tally = _read(path, text_column="ask", label_column="department")
    assert tally.encoding == "gb18030" and tally.records == tally.read == 7644
    assert any("高血压" in r.text for r in records[:5])
    assert sum("\n" in r.meta["answer"] or "\n" in r.text for r in records) > 0


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.csv", "rows.tsv"])
def test_readers_iterated_directly_yield_only_rows(tmp_path: Path, name: str) -> None:
    """Chat and NER data iterate a registered reader themselves: notes ride on rows."""
    from llmline.data.sources import NOTE_KEY, SOURCES

    path = tmp_path / name
    if name.endswith(".jsonl"):
        lines = ["", '{"prompt": "你好", "response": "hi"}', "", '{"prompt": "a", "response": "b"}']
        path.write_text("\n".join(lines) + "\n\n")
    else:
        sep = "," if name.endswith(".csv") else "\t"
        path.write_text(f"prompt{sep}response\n\n你好{sep}hi\n\na{sep}b\n\n")
    rows = list(SOURCES.get(name.rsplit(".", 1)[1])(SourceSpec(path=path)))
    assert [(r["prompt"], r["response"]) for r in rows] == [("你好", "hi"), ("a", "b")]
    assert rows[0][NOTE_KEY]["encoding"] == "utf-8"
    assert sum(r.get(NOTE_KEY, {}).get("blank_lines", 0) for r in rows) == 3
