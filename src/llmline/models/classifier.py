"""A sentence classifier: a transformer encoder, mean (or CLS) pooling, a linear head.

Written here rather than using AutoModelForSequenceClassification because BERT's head sits on
the [CLS] pooler, while sentence encoders such as MiniLM were trained with mean pooling; a mean-
pooled, L2-normalised head can also start from a linear probe fitted on frozen embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import ModelError
from llmline.models.meta import ModelMeta

if TYPE_CHECKING:
    import torch

HEAD_FILE = "head.safetensors"


def pool(
    hidden: torch.Tensor, mask: torch.Tensor, *, pooling: str, normalize: bool
) -> torch.Tensor:
    import torch

    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def build_classifier(
    encoder: Any, meta: ModelMeta, *, label_smoothing: float = 0.0, head_dropout: float = 0.0,
    class_weights: list[float] | None = None,
) -> Any:  # fmt: skip
    """Wrap an HF encoder (AutoModel) with pooling and a linear head, as an nn.Module.

    label_smoothing and class_weights shape the training loss only (the evaluation loss is
    plain cross-entropy); neither is saved with the model.
    """
    import torch
    from torch import nn

    class SentenceClassifier(nn.Module):
        _keys_to_ignore_on_save: list[str] | None = None

        class_weights: torch.Tensor | None

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.meta = meta
            self.dropout = nn.Dropout(head_dropout)
            self.head = nn.Linear(encoder.config.hidden_size, len(meta.labels))
            weights = None if class_weights is None else torch.tensor(class_weights)
            # not persistent: checkpoints and the saved model hold no training-only tensors
            self.register_buffer("class_weights", weights, persistent=False)

        def state_dict(self, *args: Any, **kwargs: Any) -> Any:
            """Each tensor once: prompt learning's PeftModel also names the word embeddings
            `word_embeddings`, and safetensors refuses aliased tensors in a checkpoint. Loading
            (non-strict, as HF Trainer does for checkpoints) fills the alias via the original."""
            state = super().state_dict(*args, **kwargs)
            seen: set[tuple[int, tuple[int, ...]]] = set()
            aliases = []
            for key in list(state):
                tensor = state[key]
                if not isinstance(tensor, torch.Tensor):  # dynamic int8: dtype, packed params
                    continue
                identity = (tensor.data_ptr(), tuple(tensor.shape))
                if tensor.numel() and identity in seen:
                    del state[key]
                    aliases.append(key)
                seen.add(identity)
            self._keys_to_ignore_on_save = aliases  # HF Trainer: these keys are missing on load
            return state

        def tie_weights(self) -> None:
            """Nothing to tie: a dropped alias shares its storage with the tensor that was kept."""

        def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw: Any) -> Any:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw)
            hidden = out.last_hidden_state
            # Prompt tuning prepends its virtual tokens to the sequence; pool over the real
            # tokens only, which the attention mask describes (prefix tuning adds none here).
            virtual = hidden.shape[1] - attention_mask.shape[1]
            return pool(
                hidden[:, virtual:] if virtual > 0 else hidden,
                attention_mask,
                pooling=meta.pooling,
                normalize=meta.normalize,
            )

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            labels: torch.Tensor | None = None,
            **kw: Any,
        ) -> dict[str, torch.Tensor]:
            logits = self.head(self.dropout(self.embed(input_ids, attention_mask, **kw)))
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = nn.functional.cross_entropy(
                    logits, labels, weight=self.class_weights if self.training else None,
                    label_smoothing=label_smoothing if self.training else 0.0,
                )  # fmt: skip
            return out

    return SentenceClassifier()


def save_classifier(model: Any, tokenizer: Any, directory: Path) -> None:
    """Encoder and tokenizer via save_pretrained (safetensors), head and meta beside them.

    A pruned encoder's per-layer shapes go into the meta (see `models.structure`), so the saved
    structure always describes the saved tensors, whichever method shrank them.
    """
    from safetensors.torch import save_file

    from llmline.models.structure import STRUCTURE_KEY, encoder_structure

    directory.mkdir(parents=True, exist_ok=True)
    structure = encoder_structure(model.encoder)
    model.meta.extra.pop(STRUCTURE_KEY, None)
    if structure is not None:
        model.meta.extra[STRUCTURE_KEY] = structure
    model.encoder.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    head = {k: v.detach().contiguous().cpu() for k, v in model.head.state_dict().items()}
    save_file(head, str(directory / HEAD_FILE))
    model.meta.save(directory)


def load_classifier(directory: Path) -> tuple[Any, Any]:
    """Load (model, tokenizer) from safetensors only; nothing is unpickled."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    meta = ModelMeta.load(directory)
    if not (directory / HEAD_FILE).exists():
        raise ModelError(f"{directory} has no {HEAD_FILE}", fix="re-export the model")
    from llmline.models.adapters import load_body
    from llmline.models.structure import STRUCTURE_KEY, load_shrunk_encoder

    structure = meta.extra.get(STRUCTURE_KEY)
    if structure:  # heads or FFN neurons physically removed: from_pretrained cannot build it
        encoder = load_shrunk_encoder(directory, structure)
    else:  # full weights, or the adapter on its pinned base
        encoder = load_body(directory, AutoModel)
    model = build_classifier(encoder, meta)
    model.head.load_state_dict(load_file(str(directory / HEAD_FILE)))
    model.eval()
    return model, AutoTokenizer.from_pretrained(directory)
