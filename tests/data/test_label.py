from __future__ import annotations

import numpy as np

from llmline.data.active import find_label_issues, select_batch, uncertainty
from llmline.data.label import (
    LabelRules,
    LabelRulesSpec,
    apply_rules,
    fit_label_model,
    majority_vote,
)
from llmline.data.record import Record

RULES = {
    "rules": [
        {"label": "spam", "keywords": ["free", "winner"]},
        {"label": "spam", "regex": r"\$\d+"},
        {"label": "ham", "keywords": ["meeting", "会议"]},
    ]
}


def test_rules_vote_abstain_and_tie() -> None:
    step = LabelRules(LabelRulesSpec(**RULES))
    records = [
        Record(text="You are a WINNER of $500", row=0),
        Record(text="明天的会议改到三点", row=1),
        Record(text="nothing to see", row=2),
        Record(text="free lunch at the meeting", row=3),  # one vote each way: a tie abstains
        Record(text="free stuff", label="ham", row=4),  # existing labels are kept
    ]
    out = list(step(records))
    assert [r.label for r in out] == ["spam", "ham", None, None, "ham"]
    assert step.summary == {"rows": 5, "coverage": 0.8, "conflicts": 1, "labeled": 2}


def test_majority_vote_weights() -> None:
    assert majority_vote(["a", None, "b", "a"]) == "a"
    assert majority_vote(["a", "b"], [0.2, 1.5]) == "b"
    assert majority_vote([None, None]) is None


def test_label_model_down_weights_a_noisy_rule() -> None:
    rng = np.random.default_rng(0)
    truth = rng.choice(["x", "y"], size=300)
    good1 = [t if rng.random() < 0.9 else None for t in truth]
    good2 = [t if rng.random() < 0.9 else None for t in truth]
    noisy = [rng.choice(["x", "y"]) for _ in truth]
    weights = fit_label_model([list(row) for row in zip(good1, good2, noisy, strict=True)])
    assert weights[2] < 0.5 < min(weights[0], weights[1])


def test_apply_rules_matrix_shape() -> None:
    from llmline.data.label import LabelingFunction, LabelRuleSpec

    functions = [LabelingFunction.from_spec(LabelRuleSpec(label="a", keywords=["x"]))]
    assert apply_rules(functions, ["x y", "z"]) == [["a"], [None]]


def test_uncertainty_and_diverse_selection() -> None:
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.99, 0.01], [0.6, 0.4]])
    assert uncertainty(probs).argmax() in (0, 1)
    assert uncertainty(probs, "margin")[2] < uncertainty(probs, "margin")[3]
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # rows 0 and 1 are identical: with diversity the batch takes one of them plus row 3
    assert sorted(select_batch(probs, vectors, 2, diversity=1.0)) in ([0, 3], [1, 3])
    assert sorted(select_batch(probs, vectors, 2, diversity=0.0)) == [0, 1]


def test_cleanlab_finds_flipped_labels() -> None:
    rng = np.random.default_rng(1)
    spam = ["win free money now", "cheap pills free offer", "claim your free prize money"]
    ham = [
        "see you at the meeting",
        "notes from the project meeting",
        "lunch tomorrow with the team",
    ]
    texts, labels = [], []
    for i in range(60):
        texts.append(f"{spam[i % 3]} {rng.integers(1000)}")
        labels.append("spam")
        texts.append(f"{ham[i % 3]} {rng.integers(1000)}")
        labels.append("ham")
    flipped = [0, 2, 4]  # spam rows (even indices) marked ham
    for i in flipped:
        labels[i] = "ham"
    issues = find_label_issues(texts, labels)
    found = {issue["row"] for issue in issues}
    assert set(flipped) <= found
    assert all(issue["suggested"] == "spam" for issue in issues if issue["row"] in flipped)
