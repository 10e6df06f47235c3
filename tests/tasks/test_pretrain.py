"""Pre-training: byte-level BPE, corpus splits, continued MLM and a causal LM from scratch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmline.errors import DataError, SpecError
from llmline.spec import PretrainSpec, load_spec, validate_spec
from llmline.train.corpus_data import prepare_corpus, split_corpus
from llmline.workspace import Workspace

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
WORDS = [
    "the",
    "king",
    "spoke",
    "to",
    "the",
    "queen",
    "and",
    "the",
    "queen",
    "answered",
    "the",
    "king",
    "with",
    "gentle",
    "words",
]


def _corpus_lines(n: int) -> list[str]:
    """Repetitive, numbered English sentences: a tiny model learns them in a few dozen steps."""
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(8)) + f", {i}." for i in range(n)]


def _spec(tmp_path: Path, source: Path, task: str, **train: object) -> object:
    """train keys as given, except pretrain and generation, which go to task_config."""
    task_config = {k: train.pop(k) for k in ("pretrain", "generation") if k in train}
    text = {
        "name": f"toy-{task.replace('_', '-')}",
        "task": task,
        "data": {
            "source": {"path": str(source), "label_column": None},
            "clean": {"collapse_whitespace": False},
            "validation_fraction": 0.2,
        },
        "train": {"epochs": 1, "batch_size": 8, "eval_batch_size": 16, **train},
        "task_config": task_config,
    }
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(text), encoding="utf-8")
    return load_spec(path)


def test_bpe_round_trips_text_it_never_saw(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from llmline.train.bpe import train_bpe

    tokenizer = train_bpe(_corpus_lines(200), vocab_size=320, min_frequency=2, max_length=64)
    assert 257 < len(tokenizer) <= 320
    for text in ["the king spoke.", "Hello,  world!\nNew line", "你好，世界！ 中文 byte-level 🎉"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    assert len(tokenizer("the king", add_special_tokens=False)["input_ids"]) < len("the king")
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "queen 女王"
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert reloaded.decode(reloaded(text)["input_ids"]) == text


def test_corpus_split_by_tail_by_rows_and_empty() -> None:
    document = "\n".join(_corpus_lines(50))
    train, validation, how = split_corpus([document], 0.1, seed=0)
    assert how == "tail" and train[0] + validation[0] == document
    assert validation[0] == document[-len(validation[0]) :] and train[0].endswith("\n")
    rows = _corpus_lines(40)
    train, validation, how = split_corpus(rows, 0.25, seed=0)
    assert how == "rows" and len(validation) == 10 and not set(train) & set(validation)
    with pytest.raises(DataError, match="corpus is empty"):
        split_corpus([], 0.1, seed=0)


def test_corpus_runs_the_data_steps_and_takes_an_explicit_validation(tmp_path: Path) -> None:
    from llmline.train.corpus_data import read_texts

    source, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    rows = [*_corpus_lines(5), "write to ann@example.com today", _corpus_lines(1)[0]]
    source.write_text("\n".join(json.dumps({"text": t}) for t in rows), encoding="utf-8")
    held.write_text(json.dumps({"text": "the queen, 99."}), encoding="utf-8")
    raw = {
        "name": "corpus", "task": "mlm",
        "data": {"source": {"path": str(source), "label_column": None},
                 "validation": {"path": str(held), "label_column": None},
                 "steps": [{"step": "redact"}]},
    }  # fmt: skip
    data = prepare_corpus(validate_spec(raw), tmp_path / "data")
    train = read_texts(data.train)
    assert len(train) == 6 and "write to <EMAIL> today" in train  # redacted, deduplicated
    assert read_texts(data.validation) == ["the queen, 99."]
    assert data.report["split"] == "explicit" and data.report["dropped"] == {"duplicate": 1}
    assert (tmp_path / "data" / "data_report.md").exists()


def test_bad_pretrain_settings_are_spec_errors(tmp_path: Path) -> None:
    base = {"name": "x", "task": "causal_lm_pretrain", "data": {"source": {"path": __file__}}}
    for pretrain, match in [
        ({"n_embd": 30, "n_head": 4}, "multiple of n_head"),
        ({"mlm_probability": 1.5}, "mlm_probability"),
        ({"block_sise": 64}, "unknown key"),
        ({"vocab_size": 100}, "vocab_size"),
    ]:
        with pytest.raises(SpecError, match=match):
            validate_spec({**base, "task_config": {"pretrain": pretrain}})
    with pytest.raises(SpecError, match="moved from train to task_config"):
        validate_spec({**base, "train": {"pretrain": {"n_layer": 2}}})
    with pytest.raises(SpecError, match="does not report 'exact_match'; its metrics are perp"):
        validate_spec({**base, "evaluate": {"gates": [{"metric": "exact_match", "min": 0.5}]}})
    with pytest.raises(SpecError, match="exactly one of min or max"):
        validate_spec({**base, "evaluate": {"gates": [{"metric": "perplexity"}]}})
    spec = validate_spec({**base, "data": {"source": {"path": __file__, "label_column": None}}})
    assert spec.task_config.pretrain.block_size == 256  # defaults when the block is absent
    with pytest.raises(SpecError, match="classifier needs a label column"):
        validate_spec({**base, "task": "classification",
                       "data": {"source": {"path": __file__, "label_column": None}}})  # fmt: skip


def test_empty_corpus_and_short_corpus_are_clear_errors(tmp_path: Path) -> None:
    from llmline.train.fit import train_task

    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"text": "   "}\n{"text": ""}\n', encoding="utf-8")
    with pytest.raises(DataError, match="corpus is empty"):
        prepare_corpus(_spec(tmp_path, blank, "causal_lm_pretrain"), tmp_path / "d1")
    short = tmp_path / "short.txt"
    short.write_text("\n".join(_corpus_lines(30)), encoding="utf-8")
    spec = _spec(tmp_path, short, "causal_lm_pretrain",
                 pretrain={"block_size": 4096, "vocab_size": 300})  # fmt: skip
    data = prepare_corpus(spec, tmp_path / "d2")
    with pytest.raises(DataError, match="fewer than one block of 4096"):
        train_task(spec, data, tmp_path / "run", Workspace.resolve(tmp_path / "ws"))


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_models_from_the_spec_train_and_generate_within_their_context(
    architecture: str,
) -> None:
    import torch

    from llmline.spec import GenerationSpec
    from llmline.tasks.causal_lm_pretrain import build_model, generate_samples, token_blocks
    from llmline.train.bpe import train_bpe

    pre = PretrainSpec(architecture=architecture, n_layer=1, n_embd=16, n_head=2, block_size=16)
    tokenizer = train_bpe(_corpus_lines(50), vocab_size=300, min_frequency=2, max_length=16)
    model = build_model(pre, tokenizer)
    blocks = token_blocks(_corpus_lines(20), tokenizer, 16, split="train")
    assert blocks.shape[1] == 16 and (blocks == tokenizer.eos_token_id).any()
    with torch.no_grad():
        loss = float(model(input_ids=blocks[:2], labels=blocks[:2]).loss)
    assert loss == pytest.approx(math.log(len(tokenizer)), rel=0.2)  # untrained: near uniform
    gen = GenerationSpec(max_new_tokens=100, temperature=0.8)
    (sample,) = generate_samples(model, tokenizer, ["the king"], gen, seed=0, block_size=16)
    prompt_tokens = len(tokenizer("the king")["input_ids"])
    assert 0 < sample["tokens"] <= 16 - prompt_tokens  # stopped at the end of the context


@pytest.mark.slow
def test_mlm_lowers_perplexity_and_its_encoder_is_a_base_model(
    tmp_path: Path, tiny_bert_dir: Path, toy_csv: Path
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    from llmline.data.stage import prepare_data
    from llmline.evaluate.stage import evaluate_snapshot
    from llmline.models.resolve import resolve_model
    from llmline.train.fit import train_task
    from tests.conftest import toy_spec_text

    corpus = tmp_path / "corpus.jsonl"
    rows = [{"text": line, "id": i} for i, line in enumerate(_corpus_lines(120))]
    corpus.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    spec = _spec(tmp_path, corpus, "mlm", base_model=str(tiny_bert_dir), epochs=3,
                 learning_rate=2e-3, max_length=16, pretrain={"log_every": 5})  # fmt: skip
    workspace = Workspace.resolve(tmp_path / "ws")
    data = prepare_corpus(spec, tmp_path / "data")
    result = train_task(spec, data, tmp_path / "run", workspace)
    assert result.metrics["eval_perplexity"] < result.metrics["initial_perplexity"]
    curve = json.loads((tmp_path / "run/train/loss_curve.json").read_text())
    assert curve["validation"][0]["step"] == 0 and len(curve["train"]) >= 2
    assert (tmp_path / "run/train/loss_curve.png").stat().st_size > 0

    report = evaluate_snapshot(spec, result.model_dir, data.validation, tmp_path / "eval")
    # The evaluator masks the same tokens the trainer evaluated on (HF averages per batch).
    assert report["perplexity"] == pytest.approx(result.metrics["eval_perplexity"], rel=0.02)
    assert report["perplexity_before"] == pytest.approx(result.metrics["initial_perplexity"])
    assert 0 <= report["accuracy"] <= 1 and report["passed"]

    model_dir = resolve_model(str(result.model_dir), workspace)
    encoder = AutoModel.from_pretrained(model_dir)
    mlm_weights = load_file(model_dir / "model.safetensors")
    assert torch.equal(encoder.embeddings.word_embeddings.weight,
                       mlm_weights["bert.embeddings.word_embeddings.weight"])  # fmt: skip
    spec_path = tmp_path / "classify.yaml"
    spec_path.write_text(toy_spec_text(toy_csv, model_dir, max_steps=2), encoding="utf-8")
    classify = load_spec(spec_path)
    labelled = prepare_data(classify.data, tmp_path / "cls-data", seed=0)
    classifier = train_task(classify, labelled, tmp_path / "cls-run", workspace)
    assert (classifier.model_dir / "model.safetensors").exists()


@pytest.mark.slow
def test_from_scratch_through_the_chain(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmline.chain import run_chain
    from llmline.models.predictor import load_predictor

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(_corpus_lines(400)), encoding="utf-8")
    spec = _spec(
        tmp_path, corpus, "causal_lm_pretrain", max_steps=40, eval_steps=20,
        learning_rate=3e-3, warmup_ratio=0.0, save_steps=None,
        pretrain={"vocab_size": 300, "block_size": 32, "n_layer": 1, "n_embd": 32,
                  "n_head": 2, "log_every": 5, "sample_prompts": ["the king", ""]},
        generation={"max_new_tokens": 12},
    )  # fmt: skip
    ctx = run_chain(spec, Workspace.resolve(tmp_path / "ws"))
    run = ctx.run.dir
    metrics = ctx.results["train"]["result"]["metrics"]
    assert metrics["eval_perplexity"] < metrics["initial_perplexity"] / 3
    assert metrics["tokens_per_second"] > 0
    curve = json.loads((run / "train/loss_curve.json").read_text())
    assert [p["step"] for p in curve["validation"]] == [0, 20, 40]
    assert curve["train"][0]["loss"] > curve["train"][-1]["loss"]
    assert (run / "train/loss_curve.png").exists()
    samples = json.loads((run / "train/samples.json").read_text())
    assert [s["prompt"] for s in samples] == ["the king", ""] and samples[0]["completion"]

    report = json.loads((run / "eval/report.json").read_text())
    assert report["perplexity"] == pytest.approx(metrics["eval_perplexity"], rel=1e-3)
    assert report["perplexity"] < report["perplexity_before"] and report["passed"]
    assert ctx.results["register"]["result"]["alias"] == "champion"
    assert (run / "card.md").exists()

    model = AutoModelForCausalLM.from_pretrained(run / "model")
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    assert model.config.vocab_size == len(tokenizer)
    (answer,) = load_predictor(run / "model").predict(["the queen"])
    assert isinstance(answer["text"], str)


@pytest.mark.integration
def test_tinyshakespeare_recipe_runs_small(tmp_path: Path, shared_datasets: Path) -> None:
    """The shipped recipe through `llmline run`, on the first 60k characters, sized down."""
    text = (shared_datasets / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    (tmp_path / "input.txt").write_text(text[:60_000], encoding="utf-8")
    recipe = yaml.safe_load((RECIPES / "tinyshakespeare-pretrain.yaml").read_text())
    recipe["train"].update(max_steps=30, eval_steps=15, save_steps=None, batch_size=8)
    recipe["task_config"]["pretrain"].update(vocab_size=512, n_layer=1, n_embd=32, n_head=2,
                                             block_size=64)  # fmt: skip
    recipe["task_config"]["generation"]["max_new_tokens"] = 16
    spec_path = tmp_path / "small.yaml"
    spec_path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    # About 30 s on 2 idle cores; the timeout leaves room for a busy CI machine.
    done = subprocess.run(
        [sys.executable, "-m", "llmline", "run", str(spec_path), "--workspace",
         str(tmp_path / "ws"), "--var", f"data_dir={tmp_path}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    report = json.loads((run / "eval/report.json").read_text())
    assert report["perplexity"] < report["perplexity_before"]
    assert (run / "train/loss_curve.png").exists() and (run / "train/samples.json").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "dataset", "task"),
    [("tinyshakespeare-pretrain.yaml", "tinyshakespeare", "causal_lm_pretrain"),
     ("banking77-mlm.yaml", "banking77", "mlm")],
)  # fmt: skip
def test_pretrain_recipes_validate(
    name: str, dataset: str, task: str, shared_datasets: Path
) -> None:
    from llmline.tasks import load_tasks

    spec = load_spec(RECIPES / name, {"data_dir": str(shared_datasets / dataset)})
    assert spec.task == task and "pretrain" in spec.task_config.model_fields_set
    load_tasks().get(spec.task)
