"""Which companies a post names: watch-list aliases, cashtags, exchange codes, NER organisations.

One compiled regex holds every alias, shaped as a trie (`trie_pattern`), so at each position the
longest alias wins (leftmost-longest, as Aho-Corasick with that policy would give) at a cost
that does not grow with the size of the watch list.
English aliases match case-insensitively between ASCII word boundaries; anything with a CJK
character matches exactly and needs no boundary, because Chinese has no spaces to bound it
(`贵州茅台(600519.SH)大涨`). `\\b` is not used: Python counts CJK characters as word characters,
so `\\bApple\\b` would miss `苹果Apple公司`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmline.errors import DataError

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9_$])"
_NOT_WORD_AFTER = r"(?![A-Za-z0-9_])"
# Cashtags ($AAPL, $BRK.B) and exchange codes (600519.SH, 0700.HK, AAPL.O, SH600519).
_CODES = re.compile(
    r"(?<![A-Za-z0-9_$.])(?:"
    r"\$(?P<cash>[A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)"
    r"|(?P<cn>\d{6})\.(?P<cnx>SH|SS|SZ|BJ)"
    r"|(?P<cnp>SH|SZ|sh|sz)(?P<cnd>\d{6})"
    r"|(?P<hk>\d{4,5})\.HK"
    r"|(?P<jp>\d{4})\.T"
    r"|(?P<us>[A-Z]{1,5})\.(?P<usx>OQ|O|N|US)"
    r")(?![A-Za-z0-9_])"
)
ORG_LABELS = ("ORG", "COMPANY", "ORGANIZATION", "NT")
SOURCE_PRIORITY = {"list": 0, "code": 1, "ner": 2}


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class Mention:
    """One place in a post that names an entity; `source` is list, code or ner."""

    entity: str
    surface: str
    start: int
    end: int
    source: str
    listed: bool = True


class OrgTagger(Protocol):
    """A token-classification predictor: texts -> [{"entities": [{label, start, end}, ...]}]."""

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]: ...


def alias_key(alias: str) -> str:
    """How aliases compare: case-folded, `$` and surrounding space dropped."""
    return alias.strip().removeprefix("$").casefold()


@dataclass
class WatchList:
    entities: dict[str, Entity]
    owner: dict[str, str]  # alias_key -> entity name

    def entity_of(self, surface: str) -> str | None:
        return self.owner.get(alias_key(surface))


def load_watch_list(path: Path) -> WatchList:
    """Read `entity,aliases,language` (aliases `|`-separated); an alias on two entities fails."""
    if not path.is_file():
        raise DataError(f"watch list {str(path)!r} not found", fix="check watch.watch_list")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"entity", "aliases"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(
                f"watch list lacks column(s) {sorted(missing)} (has {reader.fieldnames})",
                where=str(path),
                fix="write a header line: entity,aliases,language",
            )
        return _build(path, ((reader.line_num, row) for row in reader))


def _build(path: Path, rows: Iterable[tuple[int, dict[str, Any]]]) -> WatchList:
    entities: dict[str, Entity] = {}
    owner: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        name = (row.get("entity") or "").strip()
        if not name or name == "*":  # "*" is the series of all posts
            raise DataError(
                f"entity name {name!r} is empty or reserved", where=f"{path}:{line}",
                fix="name the entity",
            )  # fmt: skip
        if name in entities:
            raise DataError(
                f"entity {name!r} is listed twice", where=f"{path}:{line}", fix="merge the rows"
            )
        aliases = [a.strip() for a in (row.get("aliases") or "").split("|") if a.strip()]
        aliases = list(dict.fromkeys([name, *aliases]))
        for alias in aliases:
            key = alias_key(alias)
            taken = owner.get(key)
            if taken is not None and taken[0] != name:
                raise DataError(
                    f"alias {alias!r} belongs to both {taken[0]!r} (line {taken[1]}) and {name!r}",
                    where=f"{path}:{line}",
                    fix="give each alias to one entity only",
                )
            owner[key] = (name, line)
        language = (row.get("language") or "any").strip() or "any"
        entities[name] = Entity(name, tuple(aliases), language)
    if not entities:
        raise DataError("the watch list has no entities", where=str(path), fix="add rows")
    return WatchList(entities, {key: name for key, (name, _) in owner.items()})


def trie_pattern(words: Iterable[str]) -> str:
    """One regex for many words, shaped as their trie, so matching costs the text's length and
    not the number of words (an alternation of 1,500 aliases is tried one by one at every
    character). At each node the longer continuations come before stopping there: the longest
    word wins, and a shorter one is taken only if what follows rules the longer one out.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            body = f"(?:{body})?"
        return body

    return build(trie)


def _alias_regex(aliases: Iterable[str]) -> re.Pattern[str]:
    """English aliases case-insensitive between ASCII word boundaries, CJK ones exact."""
    cjk = {a for a in aliases if _CJK.search(a)}
    latin = {a.lower() for a in aliases if a not in cjk}
    parts = []
    if latin:
        parts.append(f"{_NOT_WORD_BEFORE}(?i:{trie_pattern(latin)}){_NOT_WORD_AFTER}")
    if cjk:
        parts.append(trie_pattern(cjk))
    return re.compile("|".join(parts) or r"(?!x)x")


def normalise_code(match: re.Match[str]) -> tuple[str, tuple[str, ...]]:
    """A code's canonical form and the keys to look it up by (the form, then the bare ticker)."""
    if match["cash"]:
        ticker = match["cash"].upper()
        return ticker, (ticker, ticker.split(".")[0])
    if match["cn"] or match["cnd"]:
        digits = match["cn"] or match["cnd"]
        exchange = (match["cnx"] or match["cnp"]).upper().replace("SS", "SH")
        return f"{digits}.{exchange}", (f"{digits}.{exchange}", digits)
    if match["hk"]:
        code = f"{int(match['hk']):04d}.HK"
        return code, (code, match["hk"])
    if match["jp"]:
        return f"{match['jp']}.T", (f"{match['jp']}.T",)
    code = f"{match['us']}.{match['usx']}"
    return code, (code, match["us"])


class EntityLinker:
    """Link texts to entities: list aliases, codes and (optionally) an NER model's organisations."""

    def __init__(
        self,
        watch_list: WatchList,
        *,
        tagger: OrgTagger | None = None,
        taggers: dict[str, OrgTagger] | None = None,
        link_unlisted: bool = True,
    ) -> None:
        """`taggers` by detected language (en, zh, ...); `tagger` for the other languages."""
        self.watch_list = watch_list
        self.tagger = tagger
        self.taggers = dict(taggers or {})
        self.link_unlisted = link_unlisted
        self._aliases = _alias_regex({a for e in watch_list.entities.values() for a in e.aliases})

    def link(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[list[Mention]]:
        """Non-overlapping mentions per text, in order; longer spans win, then list > code > ner."""
        tagged = self._tag(texts, languages or [""] * len(texts))
        return [
            _resolve([*self._listed(text), *self._codes(text), *self._orgs(text, spans)])
            for text, spans in zip(texts, tagged, strict=True)
        ]

    def _listed(self, text: str) -> Iterable[Mention]:
        for match in self._aliases.finditer(text):
            entity = self.watch_list.entity_of(match[0])
            if entity is not None:
                yield Mention(entity, match[0], match.start(), match.end(), "list")

    def _codes(self, text: str) -> Iterable[Mention]:
        for match in _CODES.finditer(text):
            code, keys = normalise_code(match)
            entity = next((e for k in keys if (e := self.watch_list.entity_of(k))), None)
            if entity is not None:
                yield Mention(entity, match[0], match.start(), match.end(), "code")
            elif self.link_unlisted:
                yield Mention(code, match[0], match.start(), match.end(), "code", listed=False)

    def _tag(self, texts: Sequence[str], languages: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Each text's spans from its language's tagger, one predict call per tagger."""
        spans: list[list[dict[str, Any]]] = [[] for _ in texts]
        groups: dict[int, tuple[OrgTagger, list[int]]] = {}
        for i, language in enumerate(languages):
            tagger = self.taggers.get(language, self.tagger)
            if tagger is not None:
                groups.setdefault(id(tagger), (tagger, []))[1].append(i)
        for tagger, rows in groups.values():
            results = tagger.predict([texts[i] for i in rows])
            for i, result in zip(rows, results, strict=True):
                spans[i] = result.get("entities", [])
        return spans

    def _orgs(self, text: str, spans: list[dict[str, Any]]) -> Iterable[Mention]:
        for span in spans:
            if not is_org_label(str(span.get("label", ""))):
                continue
            start, end = int(span["start"]), int(span["end"])
            surface = text[start:end].strip()
            if not surface:
                continue
            entity = self.watch_list.entity_of(surface)
            if entity is not None:
                yield Mention(entity, surface, start, end, "ner")
            elif self.link_unlisted:
                yield Mention(surface, surface, start, end, "ner", listed=False)


def is_org_label(label: str) -> bool:
    """An organisation's name: ORG (CoNLL, People's Daily), company/organization (CLUENER),
    ORG.NAM (Weibo), but not Weibo's nominal ORG.NOM ("the company"), which names no one."""
    kind, _, mention = label.upper().partition(".")
    return kind in ORG_LABELS and mention != "NOM"


def _resolve(mentions: list[Mention]) -> list[Mention]:
    ranked = sorted(mentions, key=lambda m: (m.start - m.end, SOURCE_PRIORITY[m.source], m.start))
    kept: list[Mention] = []
    for mention in ranked:
        if all(mention.end <= k.start or mention.start >= k.end for k in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: m.start)


def entities_of(mentions: Sequence[Mention]) -> list[str]:
    """The distinct entities of a post, in order of first mention."""
    return list(dict.fromkeys(m.entity for m in mentions))
