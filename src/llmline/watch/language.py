"""The language of a post, fast enough for a stream.

`llmline.data.filters.detect_language` answers Chinese, Japanese and Korean from the script at
once, but Latin-script text goes to langdetect, 10-70 ms a post here (more under load): on its
own more than the whole budget of a 200 posts/s stream (in the English back-test it was two
thirds of the time, at a fall-through of 1 post in 9). Most Latin-script posts in a financial
stream are English and say so in their words, so a post with an English function or market word
and no word typical of another Latin-script language is answered directly; only the rest (no
word either way, or a German/French/Spanish/Italian/Dutch/Swedish/Portuguese one) go to
langdetect. Words that are common in one of those languages too (a, no, die, was, will) are
left out of the English list.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")
# anything but Latin letters, punctuation, currency signs, arrows and emoji
_NON_LATIN = re.compile(
    r"[^\x00-\u024f\u1e00-\u1eff\u2000-\u21ff\u2600-\u27bf\U0001f000-\U0001faff\ufe0f]"
)
_ENGLISH = frozenset(
    ("the", "and", "of", "is", "are", "were", "with", "this", "that", "for", "from",
     "has", "have", "had", "been", "its", "it's", "their", "which", "would", "could", "should",
     "than", "into", "to", "by", "as", "at", "it", "our", "we", "not", "but", "up", "down",
     "on", "in", "be", "or", "if", "all", "more", "about", "after", "before", "over", "here",
     "there", "what", "when", "who", "why", "how", "they", "them", "he", "she", "his", "her",
     "you", "your", "my", "i'm", "don't", "can't", "won't", "just", "now", "today", "looks",
     "good", "new", "out", "off", "back", "still", "next", "going", "get", "got", "like",
     "shares", "share", "stock", "stocks", "company", "profit", "profits", "sales", "net",
     "year", "quarter", "buy", "sell", "long", "short", "price", "market", "earnings",
     "revenue", "said", "says", "will", "also", "higher", "lower", "rose", "fell", "increased",
     "decreased", "million", "billion", "per", "bullish", "bearish", "setup", "breakout",
     "support", "resistance", "position", "adding", "calls", "puts", "chart", "trading")
)  # fmt: skip
_OTHER_LATIN = frozenset(
    ("der", "und", "das", "ist", "nicht", "mit", "ein", "eine", "sie", "auf", "für", "den",
     "le", "les", "des", "est", "une", "et", "du", "pas", "avec", "sur", "dans", "pour",
     "el", "los", "las", "y", "que", "del", "por", "para", "con", "una", "está", "muy",
     "il", "che", "di", "sono", "della", "het", "een", "van", "niet", "zijn", "och",
     "att", "är", "och", "ja", "ei", "não", "uma", "com", "mais", "também")
)  # fmt: skip
_OTHER_WORD = re.compile(r"[a-zà-ÿ']+")


def post_language(text: str) -> str:
    """ISO 639-1 code, 'und' when it cannot be told."""
    from llmline.data.filters import detect_language

    if not _NON_LATIN.search(text):
        lowered = text.lower()
        english = not _ENGLISH.isdisjoint(_WORD.findall(lowered))
        if english and _OTHER_LATIN.isdisjoint(_OTHER_WORD.findall(lowered)):
            return "en"
    return detect_language(text)
