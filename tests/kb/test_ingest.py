from __future__ import annotations

from pathlib import Path

import pytest

from llmline.errors import DataError
from llmline.kb.ingest import TableColumns, clean, read_sources


def make_pdf(path: Path, lines: list[str]) -> Path:
    """A minimal one-page PDF with a Helvetica text stream (valid xref offsets)."""
    ops = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({t}) Tj 0 -16 Td" for t in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out)
    return path


def make_docx(path: Path) -> Path:
    from docx import Document

    document = Document()
    document.add_paragraph("开户须知：请携带身份证原件。")
    document.add_paragraph("Contact jane.doe@example.com for help.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "年费"
    table.rows[0].cells[1].text = "免首年"
    document.save(str(path))
    return path


NO_COLUMNS = TableColumns()


def _by_path(root: Path, columns: TableColumns = NO_COLUMNS) -> dict[str, object]:
    return {s.path: s for s in read_sources(root, columns, redact=True)}


def test_folder_of_every_kind_with_a_broken_pdf_reported_and_skipped(tmp_path: Path) -> None:
    make_pdf(tmp_path / "fees.pdf", ["Annual fee is waived in the first year.", "Second line."])
    make_docx(tmp_path / "open.docx")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (tmp_path / "empty.md").write_text("   \n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")  # not a KB type: not listed at all
    sources = _by_path(tmp_path)
    assert set(sources) == {"fees.pdf", "open.docx", "broken.pdf", "empty.md"}
    pdf = sources["fees.pdf"]
    assert "Annual fee is waived" in pdf.documents[0].text  # type: ignore[attr-defined]
    assert "PDF" in sources["broken.pdf"].error  # type: ignore[attr-defined]
    assert sources["empty.md"].error == "empty file"  # type: ignore[attr-defined]
    docx_text = sources["open.docx"].documents[0].text  # type: ignore[attr-defined]
    assert "开户须知" in docx_text and "年费 | 免首年" in docx_text
    assert "<EMAIL>" in docx_text and "jane.doe" not in docx_text  # PII redacted


def test_html_scripts_dropped_and_paragraphs_kept(corpus: Path) -> None:
    html = _by_path(corpus, TableColumns("id"))["transfer.html"]
    text = html.documents[0].text  # type: ignore[attr-defined]
    assert "var a" not in text and "Wire transfers\n\nInternational" in text


def test_faq_rows_are_whole_documents_with_their_ids(corpus: Path) -> None:
    faq = _by_path(corpus, TableColumns("id"))["faq.csv"]
    docs = faq.documents  # type: ignore[attr-defined]
    assert [d.doc_id for d in docs] == ["q1", "q2", "q3", "q4"]
    assert docs[0].whole and docs[0].text.startswith("信用卡丢了怎么办?\n请立即")  # NFKC ？ -> ?
    assert docs[0].meta == {"question": "信用卡丢了怎么办？", "intent": "lost_card"}


def test_table_without_id_col_gets_row_ids_and_text_col_rows_are_chunked(tmp_path: Path) -> None:
    path = tmp_path / "answers.tsv"
    path.write_text("aid\tanswer\nA1\t多喝水，注意休息。\nA2\t\n", encoding="utf-8")
    (source,) = read_sources(path, TableColumns(None, "answer"), redact=False)
    assert [d.doc_id for d in source.documents] == ["answers.tsv#1"]  # the blank row is left out
    assert not source.documents[0].whole


@pytest.mark.parametrize(
    ("columns", "where"),
    [(TableColumns("qid"), "--id-col"), (TableColumns("id", "body"), "--text-col")],
)
def test_missing_columns_name_the_option(corpus: Path, columns: TableColumns, where: str) -> None:
    with pytest.raises(DataError) as err:
        _by_path(corpus / "faq.csv", columns)
    assert err.value.where == where and "question" in err.value.what


def test_table_without_question_answer_or_text_col(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1, "body": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="neither question"):
        list(read_sources(path, TableColumns(), redact=False))


def test_missing_input_and_folder_without_known_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(read_sources(tmp_path / "nope", TableColumns(), redact=False))
    (tmp_path / "a.bin").write_bytes(b"x")
    with pytest.raises(DataError, match="no Markdown"):
        list(read_sources(tmp_path, TableColumns(), redact=False))


def test_clean_keeps_paragraphs_and_redacts_chinese_ids_and_phones() -> None:
    text = "客户  张三\t身份证 11010519491231002X，\r\n\r\n\r\n手机 13812345678。"
    cleaned = clean(text, redact=True)
    assert "11010519491231002X" not in cleaned and "13812345678" not in cleaned
    assert cleaned.count("\n\n") == 1 and "  " not in cleaned
