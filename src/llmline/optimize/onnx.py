"""ONNX export of a sentence classifier and an ONNX Runtime predictor (fp32 or int8).

The exported graph returns both logits and the pooled embedding, so one `model.onnx` serves
`/v1/classify` and `/v1/embeddings`. int8 uses ONNX Runtime's own dynamic quantization
(weights int8, activations quantized per batch), the standard recipe for transformer encoders.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.classifier import MODEL_META, ClassifierMeta
from llmline.models.predictor import encoded_chunks, top_k_results

ONNX_FILE = "model.onnx"
_EXPORT_OPSET = 17


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            "ONNX methods and the ONNX backend need onnx and onnxruntime",
            fix="pip install 'llmline[onnx]'",
        ) from None
    return onnxruntime


def export_onnx(model_dir: Path, out_dir: Path, *, int8: bool) -> Path:
    """Write out_dir with model.onnx, the tokenizer and llmline_model.json (no torch weights)."""
    import torch

    from llmline.models.classifier import load_classifier

    _require_onnxruntime()
    model, tokenizer = load_classifier(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = _LogitsAndEmbedding(model).eval()
    sample = tokenizer(["an example sentence", "two"], padding=True, return_tensors="pt")
    fp32_path = out_dir / ("model.fp32.onnx" if int8 else ONNX_FILE)
    # The torch.export-based exporter needs onnxscript and still trips on HF attention masks;
    # the TorchScript exporter is deprecated but exports these BERT-family encoders cleanly.
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits", "embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "logits": {0: "batch"},
                "embedding": {0: "batch"},
            },
            opset_version=_EXPORT_OPSET,
            dynamo=False,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32_path), str(out_dir / ONNX_FILE), weight_type=QuantType.QInt8)
        fp32_path.unlink()
    tokenizer.save_pretrained(out_dir)
    meta = ClassifierMeta.load(model_dir)
    meta.extra = {**meta.extra, "backend": "onnx", "precision": "int8" if int8 else "fp32"}
    meta.save(out_dir)
    return out_dir


def _LogitsAndEmbedding(model: Any) -> Any:
    from torch import nn

    class LogitsAndEmbedding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            embedding = self.inner.embed(input_ids, attention_mask)
            return self.inner.head(embedding), embedding

    return LogitsAndEmbedding()


def has_onnx(directory: Path) -> bool:
    return (directory / ONNX_FILE).exists() and (directory / MODEL_META).exists()


@dataclass
class OnnxClassifierPredictor:
    """The ClassifierPredictor contract on ONNX Runtime: same tokenizer, same outputs."""

    session: Any
    tokenizer: Any
    meta: ClassifierMeta
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
            max_length=self.meta.max_length, tensors="np",
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

    ort = _require_onnxruntime()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(directory / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    return OnnxClassifierPredictor(
        session, AutoTokenizer.from_pretrained(directory), ClassifierMeta.load(directory)
    )
