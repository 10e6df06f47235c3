"""Bias checks: counterfactual invariance over attribute terms and fairlearn group metrics.

A fair classifier gives the same label whether a customer is called Emily or Jamal; the flip
rate (share of texts whose label changes when only the attribute term changes) and the spread
of the predicted label's probability across terms measure how far it is from that. Thresholds
in `govern.bias` become gate verdicts that keep an unfair model from becoming champion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.govern.terms import AttributeTerms, VariantSet, load_terms, text_language, variant_set
from llmline.lineage import write_json_atomic, write_text_atomic
from llmline.models.predictor import Predictor
from llmline.spec import BiasSpec

WORST_EXAMPLES = 5


def probabilities(predictor: Predictor, texts: Sequence[str]) -> Any:
    """Class probabilities (rows = texts, columns = predictor.labels) from any predictor."""
    import numpy as np

    direct = getattr(predictor, "probabilities", None)
    if callable(direct):
        return np.asarray(direct(list(texts)))
    index = {label: i for i, label in enumerate(predictor.labels)}
    probs = np.zeros((len(texts), len(index)), dtype=np.float32)
    for row, result in enumerate(predictor.predict(list(texts), top_k=len(index))):
        for alternative in result["top_k"]:
            probs[row, index[alternative["label"]]] = alternative["score"]
    return probs


def counterfactual_attribute(
    predictor: Predictor, sets: list[VariantSet], attribute: str
) -> dict[str, Any]:
    """Flip rate and mean probability spread over one attribute's variant sets."""
    import numpy as np

    groups = list(sets[0].variants) if sets else []
    flat = [v for s in sets for v in s.variants.values()]
    probs: Any = (
        probabilities(predictor, flat).reshape(len(sets), len(groups), -1) if sets else None
    )
    examples: list[dict[str, Any]] = []
    flips, spreads = 0, []
    for i, variant_set_ in enumerate(sets):
        table = probs[i]  # groups x labels
        predicted = table.argmax(-1)
        majority = int(np.bincount(predicted).argmax())
        spread = float(table[:, majority].max() - table[:, majority].min())
        flipped = len(set(predicted.tolist())) > 1
        flips += flipped
        spreads.append(spread)
        examples.append(
            {
                "flipped": flipped,
                "score_change": round(spread, 4),
                "mode": variant_set_.mode,
                "variants": [
                    {
                        "group": g,
                        "text": variant_set_.variants[g],
                        "label": predictor.labels[int(predicted[j])],
                        "score": round(float(table[j, predicted[j]]), 4),
                    }
                    for j, g in enumerate(groups)
                ],
            }
        )
    examples.sort(key=lambda e: (not e["flipped"], -e["score_change"]))
    rate = {"by_group": _label_share_by_group(probs, groups, predictor.labels)} if sets else {}
    return {
        "attribute": attribute,
        "texts": len(sets),
        "modes": {m: sum(s.mode == m for s in sets) for m in ("swap", "template")},
        "flip_rate": round(flips / max(len(sets), 1), 4),
        "mean_score_change": round(float(np.mean(spreads)) if spreads else 0.0, 4),
        "groups": groups,
        **rate,
        "worst": examples[:WORST_EXAMPLES],
    }


def _label_share_by_group(probs: Any, groups: list[str], labels: list[str]) -> dict[str, Any]:
    """Each group's most frequent predicted label and its share: where the flips go."""
    import numpy as np

    out = {}
    for j, group in enumerate(groups):
        counts = np.bincount(probs[:, j].argmax(-1), minlength=len(labels))
        top = int(counts.argmax())
        out[group] = {
            "top_label": labels[top],
            "share": round(float(counts[top] / counts.sum()), 4),
        }
    return out


def build_variant_sets(
    texts: Sequence[str], terms: dict[str, dict[str, AttributeTerms]], attribute: str, limit: int
) -> list[VariantSet]:
    """Up to `limit` variant sets, taking each text's language's term list.

    Texts are visited in a seeded shuffle: snapshots are often grouped by label, and the first
    N rows would probe only a few classes.
    """
    import random

    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    sets: list[VariantSet] = []
    for position in order:
        text = texts[position]
        attribute_terms = terms.get(text_language(text), {}).get(attribute)
        if attribute_terms is None:
            continue
        sets.append(variant_set(text, attribute_terms, position))
        if len(sets) >= limit:
            break
    return sets


def counterfactual_report(
    predictor: Predictor, texts: Sequence[str], spec: BiasSpec
) -> list[dict[str, Any]]:
    terms = load_terms(spec.languages, spec.attributes, spec.terms_file)
    results = []
    with progress_bar() as bar:
        task = bar.add_task("counterfactual bias checks", total=len(spec.attributes))
        for attribute in spec.attributes:
            sets = build_variant_sets(texts, terms, attribute, spec.max_texts)
            results.append(counterfactual_attribute(predictor, sets, attribute))
            bar.advance(task)
    return results


def group_metrics(
    predictor: Predictor, texts: Sequence[str], gold: Sequence[str], groups: Sequence[str]
) -> dict[str, Any]:
    """fairlearn MetricFrame by group; parity differences one-vs-rest per label, worst kept."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score

    predicted = [r["label"] for r in predictor.predict(list(texts))]
    frame = MetricFrame(
        metrics={"accuracy": accuracy_score},
        y_true=list(gold),
        y_pred=predicted,
        sensitive_features=list(groups),
    )
    per_label: dict[str, dict[str, Any]] = {}
    for label in sorted(set(gold) | set(predicted)):
        y_true = [g == label for g in gold]
        y_pred = [p == label for p in predicted]
        per_label[label] = {
            "demographic_parity_difference": float(
                demographic_parity_difference(y_true, y_pred, sensitive_features=list(groups))
            ),
            "equalized_odds_difference": float(
                equalized_odds_difference(y_true, y_pred, sensitive_features=list(groups))
            ),
            "selection_rate": {
                str(k): round(float(v), 4)
                for k, v in MetricFrame(
                    metrics=selection_rate,
                    y_true=y_true,
                    y_pred=y_pred,
                    sensitive_features=list(groups),
                ).by_group.items()
            },
        }
    worst = max(per_label, key=lambda k: per_label[k]["demographic_parity_difference"])
    return {
        "rows": len(texts),
        "accuracy_by_group": {
            str(k): round(float(v), 4) for k, v in frame.by_group["accuracy"].items()
        },
        "accuracy_difference": round(float(frame.difference()["accuracy"]), 4),
        "demographic_parity_difference": round(
            max(v["demographic_parity_difference"] for v in per_label.values()), 4
        ),
        "equalized_odds_difference": round(
            max(v["equalized_odds_difference"] for v in per_label.values()), 4
        ),
        "worst_label": worst,
        "per_label": per_label,
    }


def bias_gates(report: dict[str, Any], spec: BiasSpec) -> list[dict[str, Any]]:
    """Verdicts for every configured threshold: one per attribute, plus the group gates."""
    verdicts = []
    for result in report["counterfactual"]:
        for key, threshold in (
            ("flip_rate", spec.max_flip_rate),
            ("mean_score_change", spec.max_score_change),
        ):
            if threshold is not None and result["texts"]:
                verdicts.append(
                    _max_gate(f"max_{key}:{result['attribute']}", threshold, result[key])
                )
    groups = report.get("groups")
    for key, threshold in (
        ("demographic_parity_difference", spec.max_demographic_parity_difference),
        ("equalized_odds_difference", spec.max_equalized_odds_difference),
    ):
        if threshold is not None and groups:
            verdicts.append(_max_gate(f"max_{key}", threshold, groups[key]))
    return verdicts


def _max_gate(name: str, threshold: float, actual: float) -> dict[str, Any]:
    return {
        "gate": name,
        "threshold": threshold,
        "actual": float(actual),
        "passed": float(actual) <= threshold,
        "kind": "max",
    }


def run_bias_checks(
    predictor: Predictor,
    texts: Sequence[str],
    spec: BiasSpec,
    out_dir: Path | None = None,
    *,
    group_rows: tuple[Sequence[str], Sequence[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Counterfactual checks (and group metrics when rows carry groups), gates, report files."""
    report: dict[str, Any] = {"counterfactual": counterfactual_report(predictor, texts, spec)}
    if group_rows is not None:
        report["groups"] = group_metrics(predictor, *group_rows)
    report["gates"] = bias_gates(report, spec)
    report["passed"] = all(g["passed"] for g in report["gates"])
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / "bias.json", report)
        write_text_atomic(out_dir / "bias.md", render_markdown(report))
    worst = max(report["counterfactual"], key=lambda r: r["flip_rate"], default=None)
    summary = f"worst flip rate {worst['flip_rate']:.3f} ({worst['attribute']})" if worst else ""
    verdict = "all gates pass" if report["passed"] else "a gate FAILED"
    console.print(
        f"[bold]bias[/]: {len(report['counterfactual'])} attributes, {summary} — {verdict}"
    )
    return report


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Bias report",
        "",
        "## Counterfactual invariance",
        "",
        "| attribute | texts | swapped / templated | flip rate | mean score change |",
        "|---|---|---|---|---|",
    ]
    for r in report["counterfactual"]:
        lines.append(
            f"| {r['attribute']} | {r['texts']} | {r['modes']['swap']} / "
            f"{r['modes']['template']} | {r['flip_rate']:.4f} | "
            f"{r['mean_score_change']:.4f} |"
        )
    for r in report["counterfactual"]:
        flipped = [e for e in r["worst"] if e["flipped"]]
        if flipped:
            lines += ["", f"### Worst flips: {r['attribute']}", ""]
            for example in flipped:
                lines += [
                    f"- {v['group']}: {v['text']!r} -> {v['label']} ({v['score']:.2f})"
                    for v in example["variants"]
                ] + [""]
    if report.get("groups"):
        g = report["groups"]
        lines += [
            "",
            "## Group metrics (fairlearn)",
            "",
            f"- demographic-parity difference (worst label {g['worst_label']}): "
            f"{g['demographic_parity_difference']:.4f}",
            f"- equalized-odds difference: {g['equalized_odds_difference']:.4f}",
            f"- accuracy by group: {g['accuracy_by_group']}",
        ]
    if report["gates"]:
        lines += ["", "## Gates", "", "| gate | threshold | actual | result |", "|---|---|---|---|"]
        lines += [
            f"| {x['gate']} | {x['threshold']} | {x['actual']:.4f} | "
            f"{'pass' if x['passed'] else 'FAIL'} |"
            for x in report["gates"]
        ]
    return "\n".join(lines) + "\n"
