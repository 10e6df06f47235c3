"""Sentence vectors: from any predictor that has an encoder, and a predictor for bare encoders.

`embed_texts` is what `/v1/embeddings`, the drift reference and the drift monitor all call,
so they pool the same way. `EncoderPredictor` serves a directory that holds only an encoder
(a packaged sentence encoder, `BertModel` and kin): mean pooling (or CLS where its
sentence-transformers config says so), L2-normalised, with the default prompt prefix its
sentence-transformers config names (E5's "query: ") put before each text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.models.predictor import encoded_chunks


def embed_texts(predictor: Any, texts: Sequence[str]) -> list[list[float]]:
    """Pooled (and, like training, normalised) encoder output for each text.

    ONNX and encoder predictors carry their own `embed`; a torch classifier exposes its encoder
    through `model.embed`, which is the exact pooling its head was trained on.
    """
    if hasattr(predictor, "embed"):
        return [list(map(float, row)) for row in predictor.embed(list(texts))]
    import torch

    batch = predictor.tokenizer(
        [predictor.meta.text_prefix + text for text in texts],
        padding=True,
        truncation=True,
        max_length=predictor.meta.max_length,
        return_tensors="pt",
    )
    with torch.inference_mode():
        vectors = predictor.model.embed(batch["input_ids"], batch["attention_mask"])
    return vectors.float().tolist()


def supports_embeddings(predictor: Any) -> bool:
    return hasattr(predictor, "embed") or hasattr(getattr(predictor, "model", None), "embed")


@dataclass
class EncoderPredictor:
    """A bare encoder as a predictor: `embed` gives vectors, `predict` gives them per text."""

    model: Any
    tokenizer: Any
    pooling: str = "mean"
    prefix: str = ""
    max_length: int = 512
    batch_size: int = 32
    task: str = "embedding"
    labels: list[str] = field(default_factory=list)

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np
        import torch

        from llmline.models.classifier import pool

        out: Any = None
        texts = [self.prefix + t for t in texts]
        chunks = encoded_chunks(
            self.tokenizer, texts, batch_size=self.batch_size,
            max_length=self.max_length, tensors="pt",
        )  # fmt: skip
        with torch.inference_mode():
            for chunk, batch in chunks:
                mask = batch["attention_mask"]
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=mask)[0]
                vectors = pool(hidden, mask, pooling=self.pooling, normalize=True).float()
                if out is None:
                    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
                out[chunk] = vectors.numpy()
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        return [{"embedding": [float(v) for v in row]} for row in self.embed(texts)]


def _sentence_transformers_settings(directory: Path) -> tuple[str, str]:
    """(pooling, prefix) from a sentence-transformers layout or llmline_encoder.json (E5's
    `query: `, the prefix its authors give for symmetric tasks); ("mean", "") without either."""
    from llmline.models.encoding import encoder_info, encoder_prefixes

    pooling = str(encoder_info(directory).get("pooling", "mean"))
    prefix = encoder_prefixes(directory).get("query", "")
    pooling_file = directory / "1_Pooling" / "config.json"
    if pooling_file.exists():
        config = json.loads(pooling_file.read_text(encoding="utf-8"))
        if config.get("pooling_mode_cls_token") and not config.get("pooling_mode_mean_tokens"):
            pooling = "cls"
    st_file = directory / "config_sentence_transformers.json"
    if st_file.exists():
        config = json.loads(st_file.read_text(encoding="utf-8"))
        prompts, name = config.get("prompts") or {}, config.get("default_prompt_name")
        if name:  # a saved model without a default prompt keeps llmline_encoder.json's prefix
            prefix = str(prompts.get(name, ""))
    return pooling, prefix


def load_encoder(directory: Path) -> EncoderPredictor:
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(directory, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    pooling, prefix = _sentence_transformers_settings(directory)
    limits = [getattr(model.config, "max_position_embeddings", 512), tokenizer.model_max_length]
    return EncoderPredictor(model, tokenizer, pooling, prefix, max_length=min(512, *limits))
