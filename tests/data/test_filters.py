from __future__ import annotations

from pathlib import Path

import pytest

from llmline.data.clean import normalize_text
from llmline.data.filters import QualitySpec, build_checks, detect_language, quality_reason
from llmline.data.stage import prepare_data
from llmline.spec import CleanSpec, DataSpec, SourceSpec
from tests.conftest import write_csv


def test_html_urls_and_emails_options() -> None:
    spec = CleanSpec(strip_html=True, urls="mask", emails="remove")
    text = "<p>Visit <b>https://example.com/a?b=1</b> or write to me@example.org</p> &amp; more"
    assert normalize_text(text, spec) == "Visit <URL> or write to & more"
    assert normalize_text(text) == text  # defaults change nothing a model depends on


@pytest.mark.parametrize(
    ("text", "reason", "options"),
    [
        ("short", "too_short", {"min_chars": 10}),
        ("one two", "too_few_words", {"min_words": 3}),
        ("$$$ !!! ### @@@ %%% ^^^ &&& ***", "symbols", {}),
        ("1234 5678 9012 3456 7890 1234 ab", "digits", {}),
        ("buy now\nbuy now\nbuy now\nreal line", "repeated_lines", {}),
        ("click here " * 20, "repeated_ngrams", {"ngram": 2}),
        (
            "This sentence is plainly written in the English language.",
            "language",
            {"languages": ["zh"]},
        ),
    ],
)
def test_quality_reasons(text: str, reason: str, options: dict[str, object]) -> None:
    assert quality_reason(text, build_checks(QualitySpec(**options))) == reason


def test_good_text_passes_every_check() -> None:
    text = "A perfectly ordinary sentence about the weather, which was mild today."
    assert quality_reason(text, build_checks(QualitySpec(min_words=3, languages=["en"]))) is None


def test_language_detection_with_chinese_fallback() -> None:
    assert detect_language("这家酒店的服务非常好，房间也很干净") == "zh"
    assert detect_language("The hotel service was excellent and the room very clean.") == "en"
    assert detect_language("12345 67890") == "und"


def test_drops_are_counted_by_step_and_rejects_written(tmp_path: Path) -> None:
    rows = [(f"an ordinary review number {i} of the product", "ab"[i % 2]) for i in range(20)]
    rows += [("!!!! #### $$$$ %%%% word another", "a"), ("ok", "b")]
    spec = DataSpec(
        source=SourceSpec(path=write_csv(tmp_path / "q.csv", rows)),
        steps=[{"step": "quality", "min_words": 2}],
        keep_rejects=True,
        validation_fraction=0.25,
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    assert artifact.report["dropped"] == {"quality:symbols": 1, "quality:too_few_words": 1}
    quality = artifact.report["steps"][1]
    assert quality == {"step": "quality", "rows_in": 22, "rows_out": 20,
                       "dropped": {"quality:symbols": 1, "quality:too_few_words": 1}}  # fmt: skip
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 2 and '"dropped_by": "quality"' in rejects[0]
    assert "Rows per step" in (tmp_path / "out" / "data_report.md").read_text()
    assert (tmp_path / "out" / "data_lengths.png").stat().st_size > 0


def test_unknown_step_option_is_a_spec_error_naming_the_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"data.steps\[0\].max_char"):
        DataSpec(source=SourceSpec(path=Path("x.csv")), steps=[{"step": "quality", "max_char": 5}])
