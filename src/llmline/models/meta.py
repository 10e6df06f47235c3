"""What a saved llmline model needs besides its weights: `llmline_model.json`.

Every task writes the same record (its task name, labels, length limit, base model and a
task-specific `extra`), so loaders dispatch on `task` without knowing the model kind. Files
written as `ClassifierMeta` by earlier versions have the same fields and load unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llmline.errors import ModelError

MODEL_META = "llmline_model.json"


@dataclass
class ModelMeta:
    """Task, labels (classes or tags; empty for language models) and per-task `extra`."""

    labels: list[str]
    pooling: str = "mean"
    normalize: bool = True
    max_length: int = 128
    task: str = "classification"
    base_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text_prefix(self) -> str:
        """What goes before every text at inference, as it did in training: E5 was pretrained
        with "query: " before texts that are classified or clustered (see models.encoding)."""
        return str(self.extra.get("text_prefix", ""))

    def save(self, directory: Path) -> None:
        from llmline.lineage import write_text_atomic

        write_text_atomic(directory / MODEL_META, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> ModelMeta:
        path = directory / MODEL_META
        if not path.exists():
            raise ModelError(f"{directory} has no {MODEL_META}", fix="point at a llmline model")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path} is unreadable: {exc}", fix="re-export the model") from None
        known = {f.name for f in fields(cls)}
        # Keys a newer version added are kept in extra rather than refused.
        extra = dict(raw.get("extra") or {}) | {k: v for k, v in raw.items() if k not in known}
        return cls(**{k: v for k, v in raw.items() if k in known and k != "extra"}, extra=extra)


def read_task(directory: Path, default: str = "classification") -> str:
    """The task a saved model directory was trained for (classification when unrecorded)."""
    path = directory / MODEL_META
    if not path.exists():
        return default
    return str(json.loads(path.read_text(encoding="utf-8")).get("task", default))
