"""Language-model scores: cross-entropy, perplexity and token accuracy on held-out tokens.

Both pre-training tasks report the same numbers: `perplexity` (exp of
the mean loss per predicted token), `accuracy` (top-1 token accuracy) and `macro_f1` (F1
averaged over the token types present, so rare tokens weigh as much as "the").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from llmline.console import progress_bar

IGNORE = -100  # label the loss skips (HF convention)
MAX_LOSS = 50.0  # exp() of more overflows; a random model starts near ln(vocab) anyway


def perplexity(loss: float) -> float:
    return math.exp(min(loss, MAX_LOSS))


def evaluation_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def token_scores(
    model: Any, batches: Iterable[dict[str, Any]], *, shift: bool, total: int | None = None
) -> dict[str, Any]:
    """Scores over the labelled tokens of batches (input_ids, attention_mask, labels).

    shift: a causal LM predicts token t+1 at position t; a masked LM predicts in place.
    """
    import numpy as np
    import torch
    from sklearn.metrics import f1_score

    loss_sum, gold, predicted = 0.0, [], []
    model.eval()
    with torch.inference_mode(), progress_bar() as bar:
        task = bar.add_task("scoring held-out tokens", total=total)
        for batch in batches:
            inputs = {k: v.to(model.device) for k, v in batch.items() if k != "labels"}
            labels = batch["labels"].to(model.device)
            logits = model(**inputs).logits.float()
            if shift:
                logits, labels = logits[:, :-1], labels[:, 1:]
            keep = labels != IGNORE
            logits, labels = logits[keep], labels[keep]
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            gold.append(labels.cpu().numpy())
            predicted.append(logits.argmax(-1).cpu().numpy())
            bar.advance(task)
    y, p = np.concatenate(gold), np.concatenate(predicted)
    loss = loss_sum / max(len(y), 1)
    macro = f1_score(y, p, labels=np.unique(y), average="macro", zero_division=0) if len(y) else 0
    return {
        "tokens": len(y),
        "loss": round(loss, 4),
        "perplexity": round(perplexity(loss), 4),
        "accuracy": round(float((y == p).mean()) if len(y) else 0.0, 4),
        "macro_f1": round(float(macro), 4),
    }


def lm_report_markdown(report: dict[str, Any], title: str) -> str:
    from llmline.evaluate.report import gate_lines

    before = report.get("perplexity_before")
    lines = [
        f"# {title}",
        "",
        f"- held-out tokens scored: {report['tokens']:,} ({report['rows']} rows/blocks)",
        f"- perplexity: **{report['perplexity']:.3f}**"
        + (f" (before training: {before:.3f})" if before is not None else ""),
        f"- token accuracy (top-1): {report['accuracy']:.4f}",
        f"- token macro-F1 (over token types present): {report['macro_f1']:.4f}",
        *gate_lines(report),
    ]
    for sample in report.get("samples") or []:
        lines += [
            "",
            f"**{sample['prompt'].strip() or '(empty prompt)'}**",
            "",
            "```",
            sample["prompt"] + sample["completion"],
            "```",
        ]
    return "\n".join(lines) + "\n"
