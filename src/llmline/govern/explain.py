"""Word attributions: Integrated Gradients (captum), occlusion, LIME and SHAP.

Integrated Gradients integrates the gradient of the target probability along a straight path
from an all-[PAD] input to the real one, at the word-embedding layer; word-piece scores are
summed into words so a reader sees "stolen", not "stole ##n". Models captum cannot wrap (no
input-embedding layer, or only a `predict` method) fall back to leave-one-word-out occlusion:
the drop in the target's probability when that word is removed. LIME and SHAP
(`explain_sampling`) are the model-agnostic sampling methods; all four answer in the same words,
Chinese in jieba words.
"""

from __future__ import annotations

import html
import re
from typing import Any

from llmline.errors import ModelError
from llmline.models.predictor import Predictor
from llmline.models.words import has_cjk

METHODS = ("auto", "integrated_gradients", "ig", "occlusion", "lime", "shap")
SAMPLING = ("lime", "shap")
_WORD = re.compile(r"[\u3400-\u9fff]|\w+(?:['’-]\w+)*|[^\w\s]")


def explain(
    predictor: Predictor,
    text: str,
    *,
    target: str | None = None,
    method: str = "auto",
    steps: int = 32,
    entity: int = 0,
    samples: int = 256,
) -> dict[str, Any]:
    """Word attributions for one text: JSON-ready, highest |score| is most responsible.
    `ig` is short for integrated_gradients; `samples` is LIME's and SHAP's model-call budget."""
    if method not in METHODS:
        raise ModelError(f"unknown explanation method {method!r}", fix=f"use one of {METHODS}")
    method = "integrated_gradients" if method == "ig" else method
    if method in SAMPLING and samples < 16:
        raise ModelError(f"{method} needs at least 16 samples, got {samples}", fix="--samples 256")
    if predictor.task == "ner":
        if method in ("occlusion", *SAMPLING):  # removing a word shifts every tag after it
            raise ModelError(f"{method} explains classifiers only", fix="use integrated_gradients")
        return _explain_ner(predictor, text, entity=entity, steps=steps)
    if predictor.task != "classification":
        raise ModelError(f"cannot explain a {predictor.task} model", fix="use a classifier or NER")
    label = target or predictor.predict([text])[0]["label"]
    if label not in predictor.labels:
        raise ModelError(
            f"label {label!r} is not one of the model's labels",
            fix=f"choose from {', '.join(predictor.labels[:10])}",
        )
    wrappable = hasattr(predictor, "model") and hasattr(predictor.model, "encoder")
    if method == "integrated_gradients" and not wrappable:
        raise ModelError(
            "this model cannot be wrapped by captum", fix="use --method occlusion, lime or shap"
        )
    if method in SAMPLING:
        from llmline.govern import explain_sampling

        scorer = explain_sampling.lime_scores if method == "lime" else explain_sampling.shap_scores
        return _result(text, label, method, scorer(predictor, text, label, samples=samples))
    if method == "occlusion" or not wrappable:
        words = occlusion(predictor, text, label)
        return _result(text, label, "occlusion", words)
    words, delta = _classifier_ig(predictor, text, predictor.labels.index(label), steps)
    if has_cjk(text):  # IG scores word pieces (characters): sum them into jieba words
        from llmline.govern.explain_sampling import regroup, word_units

        words = regroup(word_units(text), words)
    return _result(text, label, "integrated_gradients", words, convergence_delta=delta)


def _result(
    text: str, target: str, method: str, words: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    ranked = sorted(range(len(words)), key=lambda i: -abs(words[i]["score"]))
    return {
        "text": text,
        "target": target,
        "method": method,
        "words": words,
        "top": [words[i]["word"] for i in ranked[:5]],
        **extra,
    }


def _classifier_ig(
    predictor: Any, text: str, target: int, steps: int
) -> tuple[list[dict[str, Any]], float]:
    import torch
    from captum.attr import LayerIntegratedGradients

    model, tokenizer = predictor.model, predictor.tokenizer
    # The model was trained with its text prefix (E5's "query: "): explain what it really sees,
    # then shift the offsets back onto `text` and leave the prefix's own pieces out.
    prefix = getattr(predictor.meta, "text_prefix", "") or ""
    enc = tokenizer(
        prefix + text,
        truncation=True,
        max_length=predictor.meta.max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return torch.softmax(model(input_ids, attention_mask)["logits"], dim=-1)

    layer = model.encoder.get_input_embeddings()
    baseline = _pad_baseline(enc["input_ids"], tokenizer)
    lig = LayerIntegratedGradients(forward, layer)
    attributions, delta = lig.attribute(
        enc["input_ids"],
        baselines=baseline,
        target=target,
        n_steps=steps,
        additional_forward_args=(enc["attention_mask"],),
        return_convergence_delta=True,
    )
    scores = attributions.sum(-1)[0].detach().float().tolist()
    # A SentencePiece tokenizer sees a Chinese clause as one "word": keep its pieces (characters)
    # apart, so the caller can sum them into jieba words.
    pieces = _merge_pieces(text, enc, scores, skip=len(prefix), by_word=not has_cjk(text))
    return pieces, float(delta.abs().max())


def _pad_baseline(input_ids: Any, tokenizer: Any) -> Any:
    """[PAD] everywhere except the special tokens, which carry no meaning of the text."""
    import torch

    special = torch.tensor(
        tokenizer.get_special_tokens_mask(input_ids[0].tolist(), already_has_special_tokens=True)
    ).bool()
    baseline = input_ids.clone()
    baseline[0, ~special] = tokenizer.pad_token_id or 0
    return baseline


def _merge_pieces(
    text: str, enc: Any, scores: list[float], *, skip: int = 0, by_word: bool = True
) -> list[dict[str, Any]]:
    """Sum word-piece scores into the words they spell (by character offsets); `skip` leading
    characters (a text prefix) are not part of `text`; `by_word=False` keeps each piece."""
    words: list[dict[str, Any]] = []
    last_word: int | None = None
    for piece, word_id in enumerate(enc.word_ids(0)):
        if word_id is None:
            continue
        start, end = (int(x) - skip for x in enc["offset_mapping"][0][piece])
        if end <= 0 or end <= start:  # the prefix's pieces, or an empty "▁"
            continue
        start = max(start, 0)
        if by_word and word_id == last_word and words:
            words[-1]["end"] = end
            words[-1]["score"] += scores[piece]
        else:
            words.append({"start": start, "end": end, "score": scores[piece]})
        last_word = word_id
    for word in words:
        word["word"] = text[word["start"] : word["end"]]
        word["score"] = round(float(word["score"]), 5)
    return words


def split_words(text: str) -> list[dict[str, Any]]:
    """Words (and single CJK characters and punctuation marks) with character offsets."""
    return [{"word": m.group(), "start": m.start(), "end": m.end()} for m in _WORD.finditer(text)]


def occlusion(predictor: Predictor, text: str, label: str) -> list[dict[str, Any]]:
    """Leave-one-word-out: score = p(label | text) - p(label | text without the word)."""
    from llmline.govern.bias import probabilities
    from llmline.govern.explain_sampling import word_units

    words = word_units(text)
    variants = [text] + [text[: w["start"]] + text[w["end"] :] for w in words]
    probs = probabilities(predictor, [" ".join(v.split()) or v for v in variants])
    column = predictor.labels.index(label)
    base = float(probs[0, column])
    return [
        {**w, "score": round(base - float(probs[i + 1, column]), 5)} for i, w in enumerate(words)
    ]


def _explain_ner(predictor: Any, text: str, *, entity: int, steps: int) -> dict[str, Any]:
    """Attributions for the tag of one entity's first word (default: the first entity)."""
    import torch
    from captum.attr import LayerIntegratedGradients

    from llmline.models.words import words_with_offsets

    found = predictor.predict([text])[0]["entities"]
    if not found:
        return {
            "text": text,
            "target": None,
            "method": "integrated_gradients",
            "words": [],
            "top": [],
            "detail": "no entity found in the text",
        }
    if not 0 <= entity < len(found):
        raise ModelError(f"entity {entity} out of range", fix=f"pick 0..{len(found) - 1}")
    chosen = found[entity]
    spans = words_with_offsets(text)
    word_index = next(i for i, (_, start, _e) in enumerate(spans) if start >= chosen["start"])
    enc = predictor.tokenizer(
        [[w for w, _, _ in spans]],
        is_split_into_words=True,
        truncation=True,
        max_length=predictor.meta.max_length,
        return_tensors="pt",
    )
    piece = enc.word_ids(0).index(word_index)
    model = predictor.model
    with torch.no_grad():
        tag = int(model(**enc).logits[0, piece].argmax())

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return torch.softmax(logits[:, piece, :], dim=-1)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions = lig.attribute(
        enc["input_ids"],
        baselines=_pad_baseline(enc["input_ids"], predictor.tokenizer),
        target=tag,
        n_steps=steps,
        additional_forward_args=(enc["attention_mask"],),
    )
    scores = attributions.sum(-1)[0].detach().float().tolist()
    totals = [0.0] * len(spans)
    for position, word_id in enumerate(enc.word_ids(0)):
        if word_id is not None:
            totals[word_id] += scores[position]
    words: list[dict[str, Any]] = [
        {"word": w, "start": s, "end": e, "score": round(total, 5)}
        for (w, s, e), total in zip(spans, totals, strict=True)
    ]
    result = _result(text, predictor.labels[tag], "integrated_gradients", words)
    return {**result, "entity": chosen}


def render_html(explanations: list[dict[str, Any]], *, title: str = "llmline explanations") -> str:
    """A standalone page: each word shaded green (supports the target) or red (against it)."""
    blocks = []
    for item in explanations:
        peak = max((abs(w["score"]) for w in item["words"]), default=0.0) or 1.0
        spans, cursor = [], 0
        for word in item["words"]:
            spans.append(html.escape(item["text"][cursor : word["start"]]))
            alpha = min(1.0, abs(word["score"]) / peak)
            rgb = "22,163,74" if word["score"] >= 0 else "220,38,38"
            spans.append(
                f'<span style="background:rgba({rgb},{alpha:.2f})" title="{word["score"]:+.4f}">'
                f"{html.escape(word['word'])}</span>"
            )
            cursor = word["end"]
        spans.append(html.escape(item["text"][cursor:]))
        blocks.append(
            f"<section><h2>{html.escape(str(item['target']))} "
            f"<small>({html.escape(item['method'])})</small></h2>"
            f"<p class=text>{''.join(spans)}</p></section>"
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:60em;margin:2em auto}}.text{{font-size:1.2em;line-height:2}}"
        "span{{padding:2px 1px;border-radius:3px}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p>Green words push the model towards the label, red words away from it.</p>"
        + "".join(blocks)
        + "</body></html>\n"
    )
