"""Chinese person names from a trained NER model, for the `redact` step's `name_model`.

jieba's part-of-speech tags plus surname rules find names in tidy prose and miss them in social
media (Weibo person names: recall 0.44). A character-level NER model trained on names — the
People's Daily, Resume or Weibo recipes — reads the context instead of a dictionary. The model is
loaded once per process and reference; its person type is found by name among its labels.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from llmline.data.pii import Finding

# What the NER corpora here call a person: People's Daily PER, Resume NAME, Weibo PER.NAM,
# CLUENER name, CoNLL PER, OntoNotes PERSON. PER.NOM ("the teacher") names nobody.
PERSON_TYPES = frozenset({"PER", "PERSON", "NAME", "PER.NAM", "NR"})


def model_names(text: str, reference: str) -> list[Finding]:
    """PERSON findings for the person entities the model tags in `text`."""
    predictor, kinds = _predictor(reference)
    entities = predictor.predict([text])[0]["entities"]
    return [
        Finding("PERSON", e["start"], e["end"], text[e["start"] : e["end"]])
        for e in entities
        if e["label"] in kinds and text[e["start"] : e["end"]].strip()
    ]


@lru_cache(maxsize=4)
def _predictor(reference: str) -> tuple[Any, frozenset[str]]:
    from llmline.errors import SpecError
    from llmline.models.ner import load_ner_predictor
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    directory = resolve_model(reference, Workspace.resolve())
    predictor = load_ner_predictor(directory)
    types = {label[2:] for label in predictor.labels if label[:2] in ("B-", "I-")}
    kinds = frozenset(t for t in types if t.upper() in PERSON_TYPES)
    if not kinds:
        raise SpecError(
            f"redact.name_model {reference!r} has no person entity type (it tags "
            f"{', '.join(sorted(types)) or 'nothing'})",
            fix="name an NER model trained on person names, e.g. the peoples-daily-ner recipe's",
        )
    return predictor, kinds
