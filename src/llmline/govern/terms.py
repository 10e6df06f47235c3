"""Counterfactual term lists (English and Chinese shipped, user lists merged) and the variants.

A variant set is one text rewritten once per group of an attribute: terms already in the text
are swapped for their aligned counterparts; a text with none of them gets the attribute's
template ("My name is {term}. {text}") filled with each group's identity term.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import SpecError

LISTS_DIR = Path(__file__).parent / "lists"
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class AttributeTerms:
    """One attribute in one language: groups with aligned swap terms and template identities."""

    name: str
    language: str
    template: str
    identities: dict[str, list[str]]
    swaps: dict[str, list[str]]

    @property
    def groups(self) -> list[str]:
        return list(self.identities)


@dataclass(frozen=True)
class VariantSet:
    """The same text once per group; `mode` says whether terms were swapped or templated."""

    source: str
    mode: str
    variants: dict[str, str]


def text_language(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def load_terms(
    languages: Sequence[str], attributes: Sequence[str], terms_file: Path | None = None
) -> dict[str, dict[str, AttributeTerms]]:
    """language -> attribute -> terms; a user file replaces same-named attributes per language."""
    import yaml

    user: dict[str, Any] = {}
    if terms_file is not None:
        if not terms_file.is_file():
            raise SpecError(f"terms file {str(terms_file)!r} not found", where="govern.bias")
        user = yaml.safe_load(terms_file.read_text(encoding="utf-8")) or {}
    out: dict[str, dict[str, AttributeTerms]] = {}
    for language in languages:
        shipped = yaml.safe_load((LISTS_DIR / f"bias_{language}.yaml").read_text("utf-8"))
        merged = shipped | (user.get(language) or {})
        out[language] = {}
        for attribute in attributes:
            if attribute not in merged:
                raise SpecError(
                    f"no {language} term list for attribute {attribute!r}",
                    where="govern.bias.attributes",
                    fix=f"choose from {', '.join(sorted(merged))} or add it to terms_file",
                )
            out[language][attribute] = _parse(attribute, language, merged[attribute])
    return out


def _parse(attribute: str, language: str, raw: dict[str, Any]) -> AttributeTerms:
    identities: dict[str, list[str]] = {}
    swaps: dict[str, list[str]] = {}
    for group, terms in raw["groups"].items():
        if isinstance(terms, list):
            identities[group] = swaps[group] = [str(t) for t in terms]
        else:
            identities[group] = [str(t) for t in terms["identities"]]
            swaps[group] = [str(t) for t in terms.get("swaps", [])]
    lengths = {len(terms) for terms in swaps.values()}
    if len(lengths) > 1:
        raise SpecError(
            f"{language} attribute {attribute!r}: swap lists differ in length {sorted(lengths)}",
            fix="align the swap terms of every group by position",
        )
    return AttributeTerms(attribute, language, str(raw["template"]), identities, swaps)


def _pattern(term: str, language: str) -> re.Pattern[str]:
    if language == "zh":  # Chinese has no word boundaries; longest terms are tried first
        return re.compile(re.escape(term))
    return re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)


def _match_case(found: str, replacement: str) -> str:
    if found.isupper() and len(found) > 1:
        return replacement.upper()
    if found[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _swap_slots(text: str, terms: AttributeTerms) -> list[tuple[str, int, re.Match[str]]]:
    """(owning group, aligned index, match) of every swap term found, longest first, no overlaps."""
    candidates = [
        (group, index, term)
        for group, group_terms in terms.swaps.items()
        for index, term in enumerate(group_terms)
    ]
    candidates.sort(key=lambda item: -len(item[2]))
    taken: list[tuple[str, int, re.Match[str]]] = []
    for group, index, term in candidates:
        for match in _pattern(term, terms.language).finditer(text):
            if all(match.end() <= m.start() or match.start() >= m.end() for _, _, m in taken):
                taken.append((group, index, match))
    return sorted(taken, key=lambda item: item[2].start())


def variant_set(text: str, terms: AttributeTerms, position: int) -> VariantSet:
    """Swap the terms the text contains, else template it with identity `position` of each group.

    The text's own group is the one most of its terms belong to; the variant for group g
    exchanges the roles of the two ("he ... his wife" -> "she ... her husband").
    """
    slots = _swap_slots(text, terms) if any(terms.swaps.values()) else []
    if not slots:
        variants = {
            group: terms.template.format(term=ids[position % len(ids)], text=text)
            for group, ids in terms.identities.items()
        }
        return VariantSet(text, "template", variants)
    owners = [owner for owner, _, _ in slots]
    source = max(set(owners), key=owners.count)
    variants = {}
    for group in terms.swaps:
        pieces, cursor = [], 0
        for owner, index, match in slots:
            new_group = group if owner == source else source if owner == group else owner
            replacement = _match_case(match.group(), terms.swaps[new_group][index])
            pieces += [text[cursor : match.start()], replacement]
            cursor = match.end()
        variants[group] = "".join([*pieces, text[cursor:]])
    return VariantSet(text, "swap", variants)
