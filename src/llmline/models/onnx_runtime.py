"""ONNX Runtime inference for a sentence classifier exported by `llmline optimize` (fp32/int8).

Loading lives in models/ beside the torch loaders so serving, monitoring and the optimize
stage's measurements share one predictor; exporting stays in llmline.optimize.onnx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.meta import MODEL_META, ModelMeta
from llmline.models.predictor import encoded_chunks, top_k_results

ONNX_FILE = "model.onnx"


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            "ONNX methods and the ONNX backend need onnx and onnxruntime",
            fix="pip install 'llmline[onnx]'",
        ) from None
    return onnxruntime


def onnx_session(path: Path, options: Any = None) -> Any:
    ort = require_onnxruntime()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def has_onnx(directory: Path) -> bool:
    return (directory / ONNX_FILE).exists() and (directory / MODEL_META).exists()


@dataclass
class OnnxClassifierPredictor:
    """The ClassifierPredictor contract on ONNX Runtime: same tokenizer, same outputs."""

    session: Any
    tokenizer: Any
    meta: ModelMeta
    batch_size: int = 64
    task: str = "classification"

    @property
    def labels(self) -> list[str]:
        return self.meta.labels

    def _run(self, texts: Sequence[str]) -> tuple[Any, Any]:
        import numpy as np

        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        embeddings: Any = None
        chunks = encoded_chunks(
            self.tokenizer, texts, batch_size=self.batch_size,
            max_length=self.meta.max_length, tensors="np", prefix=self.meta.text_prefix,
        )  # fmt: skip
        for chunk, batch in chunks:
            out_logits, out_embed = self.session.run(
                None,
                {
                    "input_ids": batch["input_ids"].astype(np.int64),
                    "attention_mask": batch["attention_mask"].astype(np.int64),
                },
            )
            if embeddings is None:
                embeddings = np.zeros((len(texts), out_embed.shape[1]), dtype=np.float32)
            logits[chunk], embeddings[chunk] = out_logits, out_embed
        return logits, embeddings

    def probabilities(self, texts: Sequence[str]) -> Any:
        import numpy as np

        logits = self._run(texts)[0]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def embed(self, texts: Sequence[str]) -> Any:
        return self._run(texts)[1]

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        if not texts:
            return []
        return top_k_results(self.probabilities(texts), self.labels, top_k)


def load_onnx_predictor(
    directory: Path, *, threads: int | None = None, spin: bool = True
) -> OnnxClassifierPredictor:
    """`spin=False` lets idle intra-op threads sleep: slower to wake, but no core burnt waiting."""
    from transformers import AutoTokenizer

    ort = require_onnxruntime()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return OnnxClassifierPredictor(
        onnx_session(directory / ONNX_FILE, options),
        AutoTokenizer.from_pretrained(directory),
        ModelMeta.load(directory),
    )
