from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.data.labelstudio import export_tasks
from llmline.data.record import Record
from llmline.data.sources import read_records
from llmline.data.stage import prepare_data
from llmline.errors import DataError
from llmline.spec import DataSpec, SourceSpec

MULTIPART = b"""From: Alice <alice@example.org>
To: bob@example.org
Subject: =?utf-8?q?Caf=C3=A9_plans?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XX"

--XX
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

<html><head><title>t</title></head><body><p>Let's meet at the caf=E9.</p>
<script>x()</script></body></html>
--XX--
"""

REPLY = (
    b"From: bob@example.org\nSubject: Re: plans\nContent-Type: text/plain; charset=utf-8\n\n"
    b"Sounds good to me.\nOn Mon, 1 Jan 2024, Alice wrote:\n> Let's meet at the cafe.\n"
    b"-- \nBob, phone +1 415 555 2671\n"
)


def _mailbox(tmp_path: Path) -> Path:
    root = tmp_path / "mail"
    (root / "ham").mkdir(parents=True)
    (root / "spam").mkdir()
    (root / "ham" / "1.eml").write_bytes(MULTIPART)
    (root / "ham" / "2.eml").write_bytes(REPLY)
    (root / "spam" / "3.eml").write_bytes(b"Subject: win\n\nWIN A PRIZE NOW at http://x.example\n")
    return root


def test_email_headers_body_html_and_labels(tmp_path: Path) -> None:
    source = SourceSpec(
        path=_mailbox(tmp_path), format="email", strip_quotes=True, strip_signature=True
    )
    records = {r.meta["path"]: r for r in read_records(source)}
    html = records["ham/1.eml"]
    assert html.text == "Let's meet at the café."
    assert html.meta["subject"] == "Café plans" and html.meta["from"] == "Alice <alice@example.org>"
    assert html.label == "ham" and records["spam/3.eml"].label == "spam"
    assert records["ham/2.eml"].text == "Sounds good to me."


def test_quotes_and_signature_kept_unless_asked(tmp_path: Path) -> None:
    records = list(read_records(SourceSpec(path=_mailbox(tmp_path), format="email")))
    reply = next(r for r in records if r.meta["path"] == "ham/2.eml")
    assert "> Let's meet" in reply.text and "Bob, phone" in reply.text


def test_bad_files_are_rejected_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(10):
        (root / "a" / f"{i}.txt").write_text(f"alpha text number {i}")
        (root / "b" / f"{i}.txt").write_text(f"beta text number {i}")
    (root / "a" / "empty.txt").write_bytes(b"")
    (root / "b" / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "b" / "latin.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))
    spec = DataSpec(source=SourceSpec(path=root), validation_fraction=0.25, max_bad_fraction=0.2)
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    assert artifact.report["dropped"] == {"bad_row": 2}
    assert artifact.report["rows_in"] == 23
    with pytest.raises(DataError, match=r"binary file|empty file"):
        prepare_data(spec.model_copy(update={"strict": True}), tmp_path / "strict", seed=0)


def test_directory_without_matching_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.csv").write_text("a")
    with pytest.raises(DataError, match=r"no files matching '\*\*/\*\.txt'"):
        list(read_records(SourceSpec(path=tmp_path / "d", glob="**/*.txt")))


def test_broken_json_lines_are_rejected_below_the_limit(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"row {i}", "label": "ab"[i % 2]}) for i in range(40)]
    lines.insert(7, '{"text": oops')
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    records = list(read_records(SourceSpec(path=path), strict=False))
    bad = [r for r in records if r.dropped]
    assert len(bad) == 1 and bad[0].meta["where"].endswith("rows.jsonl:8")
    with pytest.raises(DataError, match=r"rows\.jsonl:8"):
        list(read_records(SourceSpec(path=path), strict=True))


def test_html_pages(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><h1>Title</h1><p>First&nbsp;para</p><style>p{}</style></body></html>"
    )
    (record,) = read_records(SourceSpec(path=page, label_column=None))
    assert record.text == "Title\n\nFirst para"


def test_label_studio_round_trip(tmp_path: Path) -> None:
    records = [Record(text="free money", row=0), Record(text="lunch at noon?", row=1)]
    path = export_tasks(records, tmp_path / "tasks.json", predictions=[("spam", 0.9), None])
    tasks = json.loads(path.read_text())
    assert tasks[0]["predictions"][0]["result"][0]["value"]["choices"] == ["spam"]
    assert "predictions" not in tasks[1]
    tasks[0]["annotations"] = [
        {"result": [{"value": {"choices": ["ham"]}}], "was_cancelled": False, "updated_at": "1"},
        {"result": [{"value": {"choices": ["spam"]}}], "was_cancelled": False, "updated_at": "2"},
    ]
    tasks[1]["annotations"] = [{"result": [{"value": {"choices": ["ham"]}}], "was_cancelled": True}]
    path.write_text(json.dumps(tasks))
    imported = list(read_records(SourceSpec(path=path)))
    assert [(r.text, r.label) for r in imported] == [
        ("free money", "spam"),
        ("lunch at noon?", None),
    ]
