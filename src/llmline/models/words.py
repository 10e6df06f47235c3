"""Words with character offsets for text with or without spaces between words.

NER works on words; Chinese and Japanese have no spaces, and Python's `\\w` matches CJK
characters, so a whole Chinese clause used to be one "word". Here every CJK character is a word
of its own (the unit Chinese NER corpora tag), runs of other word characters stay together
(keeping inner - ' . as in 1996-08-22, U.S, o'clock), and every other mark is one word. Offsets
always index the original string.
"""

from __future__ import annotations

import re

# CJK ideographs (unified, extensions A-F, compatibility), kana, Hangul syllables, and the
# full-width/CJK punctuation blocks: each character is one word.
CJK_CHARS = (
    "\u3000-\u303f"  # CJK symbols and punctuation
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # compatibility ideographs
    "\uff00-\uffef"  # half-width and full-width forms (，。！ and full-width digits)
    "\U00020000-\U0002ebef"  # extensions B-F
)
_CJK = f"[{CJK_CHARS}]"
_WORD_CHAR = f"[^\\W{CJK_CHARS}]"
WORD = re.compile(f"{_CJK}|{_WORD_CHAR}+(?:[-'’.]{_WORD_CHAR}+)*|[^\\w\\s]")
CJK = re.compile(_CJK)


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for every word of text, in order."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def has_cjk(text: str) -> bool:
    """Whether text contains a CJK character (and so is compared character by character)."""
    return CJK.search(text) is not None


def characters_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Every non-space character as a word: the unit of Chinese NER corpora (Resume, Weibo,
    CLUENER tag "1", "9", "6", "6" one by one), for models trained on such data."""
    return [(ch, i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]


def char_level(tokens: list[str]) -> bool:
    """Whether a tagged sentence is written one character per token with CJK in it, which is
    how the model trained on it must split raw text at prediction time."""
    return bool(tokens) and all(len(t) == 1 for t in tokens) and has_cjk("".join(tokens))
