"""Model card and datasheet, generated from the facts a run left on disk, never hand-written.

Everything comes from the run directory: the resolved spec, manifest (hashes, versions), the
data report, the evaluation report, the bias and safety reports, the registration and any
optimization results. The card follows the Hugging Face format (YAML header written by
huggingface_hub's ModelCardData, then Markdown) and is also rendered to HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from llmline.errors import DataError
from llmline.lineage import write_text_atomic
from llmline.spec import CardSpec
from llmline.workspace import Workspace

_LICENCES = (
    ("Attribution 4.0", "cc-by-4.0"),
    ("Attribution-ShareAlike 4.0", "cc-by-sa-4.0"),
    ("CC0", "cc0-1.0"),
    ("PDDL", "pddl"),
    ("Open Data Commons Public Domain", "pddl"),
    ("Apache License", "apache-2.0"),
    ("MIT License", "mit"),
)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def collect_facts(run_dir: Path) -> dict[str, Any]:
    """Read every artifact the card is written from; a missing one is simply absent."""
    if not (run_dir / "manifest.json").is_file():
        raise DataError(
            f"{run_dir} is not a run directory (no manifest.json)",
            fix="pass a directory under <workspace>/runs/",
        )
    stages = {p.stem: _json(p) for p in sorted((run_dir / "stages").glob("*.json"))}
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    picked = ((stages.get("train") or {}).get("result") or {}).get("base_model")
    if picked:  # `base_model: auto`, resolved by the train stage from the data's language
        spec["train"] |= {"base_model": picked["picked"], "base_model_auto": picked}
    workspace = Workspace(run_dir.resolve().parents[1])  # <workspace>/runs/<run id>
    return {
        "run_dir": run_dir,
        "spec": spec,
        "base_licence": base_model_licence(_base_model(spec), _declared_licence(spec), workspace),
        "manifest": _json(run_dir / "manifest.json"),
        "data": _json(run_dir / "data" / "data_report.json"),
        "eval": _json(run_dir / "eval" / "report.json"),
        "bias": _json(run_dir / "govern" / "bias.json"),
        "safety": _json(run_dir / "govern" / "safety.json"),
        "model": _json(run_dir / "model" / "llmline_model.json"),
        "register": (stages.get("register") or {}).get("result") or {},
        "optimize": {n: s.get("result") for n, s in stages.items() if n.startswith("optimize")},
    }


def _declared_licence(spec: dict[str, Any]) -> str | None:
    """`govern.card.base_model_license`: when declared, nobody needs to look the licence up."""
    card = ((spec.get("govern") or {}).get("card")) or {}
    return card.get("base_model_license") if isinstance(card, dict) else None


def base_model_licence(
    reference: str | None, declared: str | None, workspace: Workspace | None = None
) -> str:
    """The spec's declaration, else the `license:` of the base model's own model card, found
    in the run's workspace (a packaged model is cached there; elsewhere it would convert)."""
    if declared:
        return declared
    if not reference:
        return "not declared"
    try:
        from huggingface_hub.repocard import metadata_load

        from llmline.models.resolve import resolve_model

        readme = resolve_model(reference, workspace or Workspace.resolve()) / "README.md"
        return str((metadata_load(readme) or {}).get("license", "not declared"))
    except Exception:  # an unreachable hub id or a card without metadata: say so, don't fail
        return "not declared"


def data_licence(source_path: str | None, declared: str | None) -> str:
    """The spec's declaration, else a LICENSE file beside the training data."""
    if declared:
        return declared
    if source_path:
        for name in ("LICENSE", "LICENSE.txt", "LICENCE"):
            licence = Path(source_path).parent / name
            if licence.is_file():
                head = licence.read_text(encoding="utf-8", errors="replace")[:400]
                for needle, spdx in _LICENCES:
                    if needle in head:
                        return spdx
                return "other: " + next((ln.strip() for ln in head.splitlines() if ln.strip()), "")
    return "not declared"


def measured_limitations(facts: dict[str, Any]) -> list[str]:
    """Limitations the artifacts show: weak classes, bias flips, flagged data, language."""
    out = []
    per_class = facts["eval"].get("per_class") or {}
    weak = sorted(per_class.items(), key=lambda kv: kv[1]["f1"])[:3]
    if weak:
        out.append(
            "Weakest classes on validation (F1): "
            + ", ".join(f"{k} {v['f1']:.3f}" for k, v in weak)
            + "."
        )
    for result in facts["bias"].get("counterfactual", []):
        if result["flip_rate"] > 0:
            out.append(
                f"Predictions change with {result['attribute']} terms alone for "
                f"{result['flip_rate']:.1%} of probed texts."
            )
    if facts["safety"].get("flagged"):
        out.append(
            f"{facts['safety']['flagged']} training rows matched harmful-content or "
            "prompt-injection checks."
        )
    max_length = facts["model"].get("max_length")
    if max_length:
        out.append(f"Inputs are truncated to {max_length} tokens.")
    return out


def _hub_id(reference: str | None) -> str | None:
    """The card's base_model must be a hub id; packaged:, registry and path references are not."""
    import re

    return reference if reference and re.fullmatch(r"[\w.-]+/[\w.-]+", reference) else None


# The hub's pipeline tag of each llmline task (the card header's `pipeline_tag`).
PIPELINE_TAGS = {
    "classification": "text-classification",
    "ner": "token-classification",
    "causal_lm": "text-generation",
    "causal_lm_pretrain": "text-generation",
    "mlm": "fill-mask",
}
FROM_SCRATCH_TASKS = ("causal_lm_pretrain",)


def _base_model(spec: dict[str, Any]) -> str | None:
    """The model training started from; None for a model built from scratch."""
    if spec.get("task") in FROM_SCRATCH_TASKS:
        return None
    reference: str | None = spec["train"].get("base_model")
    return reference


def header(facts: dict[str, Any], card: CardSpec) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    spec, evaluation = facts["spec"], facts["eval"]
    pipeline_tag = PIPELINE_TAGS.get(spec.get("task", "classification"), "text-classification")
    languages = facts["spec"].get("govern", {}).get("bias", {}).get("languages") or ["en"]
    results = [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type="llmline-validation-split",
            dataset_name=f"{spec['name']} validation",
            metric_type=metric,
            metric_value=float(value),
        )
        for metric, value in _task_metrics(evaluation).items()
    ]
    data = ModelCardData(
        language=languages,
        license=card.base_model_license or facts["base_licence"],
        model_name=facts["register"].get("name") or spec["name"],
        base_model=_hub_id(_base_model(spec)),
        pipeline_tag=pipeline_tag,
        tags=["llmline", spec.get("task", "classification")],
        eval_results=results or None,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def render_card(facts: dict[str, Any], card: CardSpec) -> str:
    spec, manifest, data, evaluation = (
        facts["spec"],
        facts["manifest"],
        facts["data"],
        facts["eval"],
    )
    registered = facts["register"]
    lines = [
        header(facts, card),
        f"# {registered.get('name') or spec['name']}",
        "",
        spec.get("description") or "",
        "",
    ]
    if registered:
        lines += [
            f"Registered as `models:/{registered['name']}/{registered['version']}`"
            + (
                f" (alias `@{registered['alias']}`)"
                if registered.get("alias")
                else " (no alias: a gate failed)"
            )
            + ".",
            "",
        ]
    lines += [
        "## Intended use",
        "",
        card.intended_use
        or spec.get("description")
        or "Not stated by the owner (set govern.card.intended_use).",
        "",
    ]
    if card.out_of_scope:
        lines += ["## Out of scope", "", card.out_of_scope, ""]
    lines += _training_section(spec, manifest, data, card, facts["base_licence"])
    lines += _evaluation_section(evaluation)
    lines += _governance_section(facts)
    lines += _optimization_section(facts["optimize"])
    limitations = measured_limitations(facts) + list(card.limitations)
    lines += ["## Limitations", "", *[f"- {item}" for item in limitations], ""]
    lines += [
        "## Provenance",
        "",
        f"- run: `{manifest.get('run_id')}`",
        f"- spec sha256: `{manifest.get('spec_sha256')}`",
        f"- seed: {manifest.get('seed')}",
        "- packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("packages") or {}).items())),
        "",
    ]
    return "\n".join(lines)


def _training_section(
    spec: dict[str, Any], manifest: dict[str, Any], data: dict[str, Any], card: CardSpec,
    base_licence: str,
) -> list[str]:  # fmt: skip
    source = spec["data"]["source"]["path"]
    outputs = (manifest.get("stages", {}).get("data") or {}).get("outputs") or {}
    return [
        "## Training data",
        "",
        f"- source: `{source}` (licence: {data_licence(source, card.data_license)})",
        _base_model_line(spec, card.base_model_license or base_licence),
        f"- rows: {data.get('rows_in')} in, {data.get('train_rows')} train, "
        f"{data.get('validation_rows')} validation",
        f"- removed: {data.get('dropped') or 'nothing'}",
        f"- personal data: {_pii_summary(data)}",
        f"- train snapshot sha256: `{(outputs.get('train') or {}).get('sha256', '-')}`",
        f"- validation snapshot sha256: `{(outputs.get('validation') or {}).get('sha256', '-')}`",
        f"- labels: {len(data.get('labels') or [])}",
        "",
        "See `datasheet.md` for the full data report.",
        "",
    ]


def _pii_summary(data: dict[str, Any]) -> str:
    found = {k: v for k, v in data.items() if "pii" in k.lower() or "redact" in k.lower()}
    return json.dumps(found, sort_keys=True) if found else "no redaction step ran"


def _task_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The task's own metrics (reports before them had accuracy and macro-F1 at the top)."""
    if isinstance(evaluation.get("metrics"), dict):
        return dict(evaluation["metrics"])
    return {k: evaluation[k] for k in ("accuracy", "macro_f1") if k in evaluation}


def _evaluation_section(evaluation: dict[str, Any]) -> list[str]:
    if not evaluation:
        return ["## Evaluation", "", "No evaluation report.", ""]
    shown = ", ".join(f"{k} **{v}**" for k, v in _task_metrics(evaluation).items())
    lines = ["## Evaluation", "", f"Validation split, {evaluation.get('rows')} rows: {shown}.", ""]
    for gate in evaluation.get("gates") or []:
        lines.append(
            f"- gate {gate['gate']}: {gate['actual']:.4f} vs {gate['threshold']} — "
            + ("pass" if gate["passed"] else "FAIL")
        )
    per_class = evaluation.get("per_class") or {}
    if per_class:
        lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [
            f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
            for k, v in per_class.items()
        ]
    return [*lines, ""]


def _governance_section(facts: dict[str, Any]) -> list[str]:
    lines = ["## Bias and safety", ""]
    bias, safety = facts["bias"], facts["safety"]
    if bias:
        lines += ["| attribute | texts | flip rate | mean score change |", "|---|---|---|---|"]
        lines += [
            f"| {r['attribute']} | {r['texts']} | {r['flip_rate']:.4f} | "
            f"{r['mean_score_change']:.4f} |"
            for r in bias["counterfactual"]
        ]
        if bias.get("groups"):
            g = bias["groups"]
            lines += [
                "",
                f"Group metrics (fairlearn): demographic-parity difference "
                f"{g['demographic_parity_difference']}, equalized-odds difference "
                f"{g['equalized_odds_difference']}.",
            ]
        lines.append("")
    else:
        lines += ["No bias checks ran (govern.bias.enabled is false).", ""]
    if safety:
        lines += [
            f"Safety scan of the training data: {safety['flagged']} of {safety['rows']} "
            f"rows flagged ({safety.get('by_category') or 'none'}).",
            "",
        ]
    gates = [g for src in (bias, safety) for g in (src.get("gates") or [])]
    for gate in gates:
        lines.append(
            f"- gate {gate['gate']}: {gate['actual']:.4f} vs {gate['threshold']} — "
            + ("pass" if gate["passed"] else "FAIL")
        )
    return [*lines, ""] if gates else lines


def _optimization_section(optimize: dict[str, Any]) -> list[str]:
    if not optimize:
        return []
    lines = ["## Optimization variants", ""]
    for name, result in optimize.items():
        lines.append(f"- {name}: `{json.dumps(result, sort_keys=True, default=str)[:600]}`")
    return [*lines, ""]


def render_datasheet(facts: dict[str, Any], card: CardSpec) -> str:
    spec, data = facts["spec"], facts["data"]
    source = spec["data"]["source"]
    lines = [
        f"# Datasheet: {spec['name']}",
        "",
        "## Composition",
        "",
        f"- source file: `{source['path']}` (text column `{source.get('text_column')}`, "
        f"label column `{source.get('label_column')}`)",
        f"- licence: {data_licence(source['path'], card.data_license)}",
        f"- rows in: {data.get('rows_in')}; rows out: {data.get('rows_out')}",
        f"- text length (characters): {data.get('text_chars')}",
        "",
        "## Collection and cleaning",
        "",
        f"- cleaning: {json.dumps(spec['data'].get('clean'), sort_keys=True)}",
        f"- extra steps: {json.dumps(spec['data'].get('steps') or [], sort_keys=True)}",
        f"- removed rows by reason: {data.get('dropped') or 'none'}",
        f"- personal data: {_pii_summary(data)}",
        "",
        "## Label distribution",
        "",
        "| label | train | validation |",
        "|---|---|---|",
    ]
    counts = data.get("label_counts") or {"train": {}, "validation": {}}
    lines += [
        f"| {label} | {counts['train'].get(label, 0)} | {counts['validation'].get(label, 0)} |"
        for label in data.get("labels") or []
    ]
    lines += [
        "",
        "## Hashes",
        "",
        *[f"- {k}: `{v}`" for k, v in (data.get("sha256") or {}).items()],
        "",
    ]
    return "\n".join(lines)


def to_html(markdown: str, title: str) -> str:
    """Markdown (without the YAML header) to a standalone HTML page, via markdown-it-py."""
    import html

    from markdown_it import MarkdownIt

    body = markdown.split("\n---\n", 1)[1] if markdown.startswith("---\n") else markdown
    rendered = MarkdownIt("commonmark").enable("table").render(body)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}"
        "td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>"
        f"{rendered}</body></html>\n"
    )


def write_card(run_dir: Path, card: CardSpec) -> dict[str, Path]:
    """Write card.md, card.html and datasheet.md into the run directory."""
    facts = collect_facts(run_dir)
    markdown = render_card(facts, card)
    datasheet = render_datasheet(facts, card)
    paths = {
        "card": run_dir / "card.md",
        "card_html": run_dir / "card.html",
        "datasheet": run_dir / "datasheet.md",
    }
    write_text_atomic(paths["card"], markdown)
    write_text_atomic(paths["card_html"], to_html(markdown, f"Model card: {facts['spec']['name']}"))
    write_text_atomic(paths["datasheet"], datasheet)
    return paths


def _base_model_line(spec: dict[str, Any], licence: str) -> str:
    reference = _base_model(spec)
    if reference is None:
        return "- base model: none, trained from scratch (its own tokenizer, random initialisation)"
    auto = spec["train"].get("base_model_auto")
    how = f", picked by `base_model: auto` for {auto['language']} training data" if auto else ""
    return f"- base model: `{reference}` (licence: {licence}{how})"
