from __future__ import annotations

import random
from pathlib import Path

from llmline.data.clean import dedup_key
from llmline.data.dedup import NearDedup, NearDedupSpec, find_contaminated
from llmline.data.minhash import jaccard, lsh_params, shingles
from llmline.data.record import Record
from llmline.data.stage import prepare_data, read_snapshot
from llmline.spec import DataSpec, SourceSpec
from tests.conftest import write_csv

WORDS = [
    *(
        [
            "alpha",
            "beta",
            "gamma",
            "delta",
            "epsilon",
            "zeta",
            "eta",
            "theta",
            "iota",
            "kappa",
            "lambda",
            "mu",
            "nu",
            "xi",
        ]
    ),
    *(
        [
            "omicron",
            "pi",
            "rho",
            "sigma",
            "tau",
            "upsilon",
            "phi",
            "chi",
            "psi",
            "omega",
            "river",
            "stone",
            "cloud",
            "paper",
        ]
    ),
]


def _doc(rng: random.Random, n: int = 60) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(n))


def _edit(text: str, rng: random.Random, edits: int = 2) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = f"edited{rng.randrange(10**9)}"
    return " ".join(words)


def test_banding_meets_recall_at_threshold() -> None:
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128
    assert 1 - (1 - 0.8**rows) ** bands >= 0.995


def test_chinese_uses_character_shingles() -> None:
    text = "今天天气很好我们一起去公园散步吧然后去吃饭看电影"
    assert jaccard(shingles(text), shingles(text[:-1])) > 0.9
    assert jaccard(shingles(text), shingles("完全不同的一句话没有任何关系的内容在这里")) == 0


def test_near_duplicates_dropped_and_clustered() -> None:
    rng = random.Random(0)
    docs = [_doc(rng) for _ in range(30)]
    texts = [*docs, _edit(docs[3], rng), _edit(docs[7], rng)]
    step = NearDedup(NearDedupSpec(threshold=0.8))
    out = list(step(Record(text=t, row=i) for i, t in enumerate(texts)))
    dropped = [r for r in out if r.dropped]
    assert [(r.row, r.meta["cluster"]) for r in dropped] == [(30, 3), (31, 7)]
    assert step.summary["near_duplicates"] == 2 and step.summary["examples"]


def test_keep_mode_marks_clusters_without_dropping() -> None:
    rng = random.Random(1)
    base = _doc(rng)
    records = [Record(text=t, row=i) for i, t in enumerate([base, _edit(base, rng), _doc(rng)])]
    out = list(NearDedup(NearDedupSpec(action="keep"))(records))
    assert [r.dropped for r in out] == [None, None, None]
    assert [r.meta["cluster"] for r in out] == [0, 0, 2]


def test_split_keeps_near_duplicate_clusters_on_one_side(tmp_path: Path) -> None:
    rng = random.Random(2)
    rows = []
    for label in ("a", "b"):
        for _ in range(12):
            doc = _doc(rng, 40)
            rows += [(doc, label), (_edit(doc, rng, 1), label), (_edit(doc, rng, 1), label)]
    path = write_csv(tmp_path / "d.csv", rows)
    spec = DataSpec(
        source=SourceSpec(path=path),
        validation_fraction=0.3,
        steps=[{"step": "near_dedup", "action": "keep"}],
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    train, _ = read_snapshot(artifact.train)
    validation, _ = read_snapshot(artifact.validation)
    assert validation and len(train) + len(validation) == 72
    found = find_contaminated(train, validation, NearDedupSpec())
    assert found == [None] * len(validation)


def test_explicit_validation_is_decontaminated(tmp_path: Path) -> None:
    rng = random.Random(3)
    train_rows = [(_doc(rng, 30), "ab"[i % 2]) for i in range(20)]
    leaked = _edit(train_rows[0][0], rng, 1)
    validation_rows = [(leaked, "a"), (_doc(rng, 30), "a"), (_doc(rng, 30), "b")]
    spec = DataSpec(
        source=SourceSpec(path=write_csv(tmp_path / "t.csv", train_rows)),
        validation=SourceSpec(path=write_csv(tmp_path / "v.csv", validation_rows)),
        steps=[{"step": "near_dedup"}],
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    texts, _ = read_snapshot(artifact.validation)
    assert leaked not in texts and len(texts) == 2
    assert artifact.report["dropped"]["contaminated"] == 1


def test_exact_key_ignores_case_and_width() -> None:
    assert dedup_key("ＨＥＬＬＯ  World") == dedup_key("hello world")
