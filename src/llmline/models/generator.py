"""Causal-LM inference: chat and plain completions, batched or streamed token by token.

The `causal_lm` task's predictor; the OpenAI-compatible routes, `llmline predict` and
the instruction-tuning evaluation all go through `Generator`, so they decode the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.models.meta import MODEL_META, ModelMeta
from llmline.spec import GenerationSpec


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn / stop string) or "length" (max tokens)


@dataclass
class Generator:
    model: Any
    tokenizer: Any
    meta: ModelMeta
    settings: GenerationSpec = field(default_factory=lambda: GenerationSpec.model_validate({}))
    task: str = "causal_lm"
    labels: list[str] = field(default_factory=list)
    batch_size: int = 16

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """The model's own chat template, with the spec's system prompt and user template."""
        from llmline.train.chat_data import apply_generation_settings

        messages = apply_generation_settings(messages, self.settings)
        text: str = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return text

    def _kwargs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        s = self.settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens, "repetition_penalty": s.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id, "eos_token_id": self.stop_ids(),
        }  # fmt: skip
        if s.temperature > 0:
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def stop_ids(self) -> list[int]:
        """End-of-sequence plus the chat template's end-of-turn token where it has one."""
        ids = {self.tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id:
                ids.add(token_id)
        return sorted(i for i in ids if i is not None)

    def generate(self, prompts: Sequence[str], **overrides: Any) -> list[Generation]:
        """Left-padded batches; each prompt is raw text (already templated for chat)."""
        import torch

        stop = overrides.pop("stop", None)
        out: list[Generation] = []
        self.tokenizer.padding_side = "left"
        for start in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[start : start + self.batch_size])
            batch = self._encode(chunk)
            with torch.inference_mode():
                ids = self.model.generate(**batch, **self._kwargs(overrides))
            width = batch["input_ids"].shape[1]
            for row in range(len(chunk)):
                new = ids[row, width:]
                out.append(self._finish(new, int(batch["attention_mask"][row].sum()), stop))
        return out

    def _finish(self, new: Any, prompt_tokens: int, stop: list[str] | None) -> Generation:
        stops = set(self.stop_ids()) | {self.tokenizer.pad_token_id}
        tokens = [int(t) for t in new]
        ended = next((i for i, t in enumerate(tokens) if t in stops), None)
        kept = tokens if ended is None else tokens[:ended]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        text, cut = cut_at_stop(text, stop)
        reason = "stop" if ended is not None or cut else "length"
        return Generation(text.strip() if ended is not None else text, prompt_tokens,
                          len(kept), reason)  # fmt: skip

    def stream(self, prompt: str, **overrides: Any) -> Iterator[str]:
        """Yield text pieces as they are decoded (generation runs on a worker thread)."""
        from transformers import TextIteratorStreamer

        overrides.pop("stop", None)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        batch = self._encode([prompt])
        kwargs = {**batch, **self._kwargs(overrides), "streamer": streamer}
        failed: list[Exception] = []

        def run() -> None:  # a failure must end the stream, or its reader waits forever
            try:
                self.model.generate(**kwargs)
            except Exception as exc:
                failed.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failed:
            raise failed[0]

    def _encode(self, prompts: list[str]) -> dict[str, Any]:
        """input_ids and attention_mask only (BERT-style tokenizers add token_type_ids).

        A prompt with no tokens (say, only a carriage return) starts from the begin- or
        end-of-text token instead: the model cannot run on an empty sequence.
        """
        start = self.tokenizer.bos_token or self.tokenizer.eos_token
        prompts = [p if self.count_tokens(p) else start for p in prompts]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        """Each text is one user turn; the reply is returned as text (and as label)."""
        prompts = [self.chat_prompt([{"role": "user", "content": t}]) for t in texts]
        return [{"label": g.text, "text": g.text} for g in self.generate(prompts)]


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """Truncate at the earliest OpenAI-style stop string."""
    positions = [text.find(s) for s in stop or [] if s and s in text]
    return (text[: min(positions)], True) if positions else (text, False)


def load_generator(directory: Path) -> Generator:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmline.models.adapters import load_body

    # A causal LM saved without llmline_model.json (a plain HF directory) is a chat model.
    plain = ModelMeta(labels=[], pooling="none", normalize=False, task="causal_lm")
    meta = ModelMeta.load(directory) if (directory / MODEL_META).exists() else plain
    gguf_file = meta.extra.get("gguf_file")  # a GGUF variant (llmline optimize --method gguf-*)
    if gguf_file:
        model = _load_gguf(directory, str(gguf_file))
    else:
        model = load_body(directory, AutoModelForCausalLM)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    settings = GenerationSpec.model_validate(meta.extra.get("generation", {}))
    return Generator(model, tokenizer, meta, settings)


def _load_gguf(directory: Path, gguf_file: str) -> Any:
    """Dequantised to fp32 by transformers; config.json beside the file keeps what GGUF
    metadata does not carry (tied embeddings, token ids, rope scaling)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(directory)
    return AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=gguf_file, config=config, dtype=torch.float32
    )
