"""Knowledge distillation: a student with fewer encoder layers learns the teacher's soft labels.

The student starts from the teacher itself, keeping evenly spaced layers (DistilBERT's
initialisation), then trains on the training split with Hinton's loss: T^2 * KL on softened
logits plus cross-entropy on the gold labels. `train_on_teacher` is that loop on its own; the
pruning methods reuse it to recover accuracy, with the unpruned model as the teacher.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.errors import DataError
from llmline.models.classifier import load_classifier, save_classifier
from llmline.models.structure import bert_layers
from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs

_BATCH = 32
_LEARNING_RATE = 1e-4


def keep_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layer indices, always including the last: 6 -> 3 keeps [1, 3, 5]."""
    keep = max(1, min(keep, total))
    return sorted({round((i + 1) * total / keep) - 1 for i in range(keep)})


def make_student(teacher: Any, layers: int) -> Any:
    import torch

    student = copy.deepcopy(teacher)
    kept = keep_layers(len(bert_layers(teacher.encoder)), layers)
    old = student.encoder.encoder.layer
    student.encoder.encoder.layer = torch.nn.ModuleList([old[i] for i in kept])
    student.encoder.config.num_hidden_layers = len(kept)
    return student


@OPTIMIZE_METHODS.register("distill")
def distill(inputs: OptimizeInputs, out_dir: Path) -> Path:
    import torch

    teacher, tokenizer = load_classifier(inputs.model_dir)
    torch.manual_seed(inputs.seed)
    student = make_student(teacher, inputs.spec.student_layers)
    train_on_teacher(
        student, teacher, tokenizer, inputs, epochs=inputs.spec.distill_epochs, name="distill"
    )
    save_classifier(student, tokenizer, out_dir)
    return out_dir


def train_on_teacher(
    student: Any, teacher: Any, tokenizer: Any, inputs: OptimizeInputs, *, epochs: float, name: str
) -> None:
    """Train `student` on the train split against `teacher`'s soft labels and the gold labels;
    it is left in eval mode. `name` labels the progress bar and the summary line."""
    from llmline.data.stage import read_snapshot

    if inputs.train is None:
        raise DataError(f"{name} needs the training split", fix="optimize a run or registry model")
    texts, gold = read_snapshot(inputs.train)
    index = {label: i for i, label in enumerate(teacher.meta.labels)}
    rows = [(t, index[str(g)]) for t, g in zip(texts, gold, strict=True) if str(g) in index]
    if not rows:
        raise DataError(
            f"{name}: no training row carries one of the model's labels",
            where=str(inputs.train),
            fix="pass the training split the model was trained on",
        )
    teacher_logits = _soft_targets(teacher, tokenizer, [t for t, _ in rows])
    _train(student, tokenizer, rows, teacher_logits, inputs, epochs=epochs, name=name)
    student.eval()


def _soft_targets(teacher: Any, tokenizer: Any, texts: list[str]) -> Any:
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), 128):
            batch = _tokenize(tokenizer, texts[start : start + 128], teacher.meta.max_length)
            chunks.append(teacher(batch["input_ids"], batch["attention_mask"])["logits"])
    return torch.cat(chunks)


def _tokenize(tokenizer: Any, texts: list[str], max_length: int) -> Any:
    return tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )


def _train(
    student: Any,
    tokenizer: Any,
    rows: list[tuple[str, int]],
    soft: Any,
    inputs: OptimizeInputs,
    *,
    epochs: float,
    name: str,
) -> None:
    import torch
    import torch.nn.functional as F

    temperature = inputs.spec.distill_temperature
    order = list(range(len(rows)))
    steps = max(1, int(epochs * len(rows) / _BATCH))
    optimizer = torch.optim.AdamW(student.parameters(), lr=_LEARNING_RATE)
    rng = random.Random(inputs.seed)
    student.train()
    loss = torch.tensor(0.0)
    with progress_bar(transient=True) as bar:
        task = bar.add_task(name, total=steps)
        for step in range(steps):
            if step * _BATCH % len(rows) < _BATCH:
                rng.shuffle(order)
            pick = [order[(step * _BATCH + i) % len(rows)] for i in range(_BATCH)]
            batch = _tokenize(tokenizer, [rows[i][0] for i in pick], student.meta.max_length)
            logits = student(batch["input_ids"], batch["attention_mask"])["logits"]
            kd = F.kl_div(
                F.log_softmax(logits / temperature, -1),
                F.softmax(soft[pick] / temperature, -1),
                reduction="batchmean",
            )
            loss = kd * temperature**2 + F.cross_entropy(
                logits, torch.tensor([rows[i][1] for i in pick])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.advance(task)
    console.print(f"[bold]{name}[/]: {steps} steps, final loss {float(loss.detach()):.4f}")
