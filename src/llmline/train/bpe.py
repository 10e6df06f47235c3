"""A byte-level BPE tokenizer trained on the corpus, wrapped for transformers.

Byte-level means every string encodes, whatever its script: text the merges never saw (Chinese,
emoji) falls back to its UTF-8 bytes, so encode -> decode is the identity and there is no
unknown token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmline.errors import DataError

END_OF_TEXT = "<|endoftext|>"
# A base model has no chat format; this template only concatenates the turns, so the chat and
# predict routes of the service continue the text instead of failing for want of a template.
PLAIN_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def train_bpe(texts: Iterable[str], *, vocab_size: int, min_frequency: int, max_length: int) -> Any:
    """Train merges on texts; returns a PreTrainedTokenizerFast (AutoTokenizer reloads it)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[END_OF_TEXT],
        show_progress=False,
    )
    if bpe.get_vocab_size() <= 257:
        raise DataError(
            "the training text is too small to learn any BPE merge",
            fix="give more text, or lower task_config.pretrain.min_frequency",
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,  # the Tokenizer inside the convenience wrapper
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = PLAIN_TEMPLATE
    return tokenizer
