"""Sentences longer than the model's input cut into windows, at sentence ends where possible.

A token classifier sees at most max_length tokens, and truncation drops the rest silently:
every entity past a health record's 510th character was never trained on and never predicted
(214 of the 914 CEHR training records are longer than 512 characters). Cutting the words into
consecutive windows instead keeps every word; cutting after 。！？； (else after ，、：, else
at the limit) keeps sentences, and so nearly all entities, whole. Training, evaluation and
the predictor cut the same way, so nothing changes for sentences that already fit.

Written here rather than taken from a library: HF's `return_overflowing_tokens` cuts by token
count with a fixed stride, through entities and sentences alike, and leaves the stitching of
overlapping predictions to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SENTENCE_ENDS = frozenset("。！？；!?;\n…")
CLAUSE_ENDS = frozenset("，,、：:")
FULL_STOPS = frozenset({".", "..."})  # a word of its own only: "Dr." and "3." end nothing


def window_bounds(words: Sequence[str], costs: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """[start, end) word ranges covering words in order, each costing at most budget tokens
    (a single word costing more gets a window of its own, which the encoder truncates)."""
    bounds: list[tuple[int, int]] = []
    start, count = 0, len(words)
    while start < count:
        end, used = start, 0
        while end < count and (end == start or used + costs[end] <= budget):
            used += costs[end]
            end += 1
        if end < count:
            end = _last_break(words, start, end)
        bounds.append((start, end))
        start = end
    return bounds


def _last_break(words: Sequence[str], start: int, end: int) -> int:
    """The end of the window [start, end): just after its last sentence end, else its last
    clause end, else end itself."""
    for stops in (SENTENCE_ENDS, CLAUSE_ENDS):
        for index in range(end - 1, start, -1):
            word = words[index]
            if word and (word[-1] in stops or (stops is SENTENCE_ENDS and word in FULL_STOPS)):
                return index + 1
    return end


def piece_costs(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
    """Tokens each word becomes under the tokenizer (no special tokens)."""
    if not sentences:
        return []
    encoded = tokenizer([list(s) for s in sentences], is_split_into_words=True,
                        add_special_tokens=False)  # fmt: skip
    costs = []
    for row, words in enumerate(sentences):
        counts = [0] * len(words)
        for word in encoded.word_ids(row):
            if word is not None:
                counts[word] += 1
        costs.append(counts)
    return costs


def token_budget(tokenizer: Any, max_length: int) -> int:
    """Tokens left for words in a sequence of max_length, after [CLS] and [SEP] (or <s> </s>)."""
    return max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))


def sentence_windows(
    sentences: Sequence[Sequence[str]], tokenizer: Any, max_length: int, *, one_token_per_word: bool
) -> list[list[tuple[int, int]]]:
    """window_bounds of every sentence: one token per word for character-level models, the
    tokenizer's pieces else (counted only for sentences that might not fit)."""
    budget = token_budget(tokenizer, max_length)
    out: list[list[tuple[int, int]]] = []
    long_rows: list[int] = []
    for index, words in enumerate(sentences):
        # a word becomes at most one piece per character plus SentencePiece's "▁"
        bound = len(words) if one_token_per_word else sum(len(w) + 1 for w in words)
        out.append([(0, len(words))])
        if bound > budget:
            long_rows.append(index)
    if one_token_per_word:
        costs = [[1] * len(sentences[i]) for i in long_rows]
    else:
        costs = piece_costs(tokenizer, [sentences[i] for i in long_rows])
        # a window's first word may take a SentencePiece "▁" that it had not mid-sentence
        budget = max(1, budget - 1)
    for index, row_costs in zip(long_rows, costs, strict=True):
        out[index] = window_bounds(sentences[index], row_costs, budget)
    return out
