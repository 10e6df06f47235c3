"""The shared training skeleton: one step count, one warmup, one optimizer for every task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.spec import TrainSpec
from llmline.train.fit import build_optimizer, total_steps, training_arguments, warmup_steps


def test_total_steps_counts_accumulation_workers_and_max_steps() -> None:
    cfg = TrainSpec(batch_size=8, gradient_accumulation_steps=3, epochs=2)
    # 100 rows: 13 batches of 8, 5 optimiser steps an epoch (the last one accumulates 1 batch)
    assert total_steps(cfg, 100) == 10
    assert total_steps(cfg, 100, workers=2) == 6  # 7 batches per worker, 3 steps an epoch
    assert total_steps(TrainSpec(batch_size=8, epochs=0.5), 100) == 7
    assert total_steps(cfg.model_copy(update={"max_steps": 4}), 100) == 4
    assert total_steps(cfg, 1) == 2  # a tiny split still steps once an epoch


def test_warmup_is_a_step_count_from_the_ratio() -> None:
    assert warmup_steps(TrainSpec(warmup_ratio=0.06), 600) == 36
    assert warmup_steps(TrainSpec(warmup_ratio=0.05), 9) == 1  # rounded up, never to 0
    assert warmup_steps(TrainSpec(warmup_ratio=0.0), 600) == 0
    args = training_arguments(TrainSpec(warmup_ratio=0.1), Path("/tmp/x"), seed=0, metric="loss",
                              greater_is_better=False, steps=55)  # fmt: skip
    assert args.warmup_steps == 6 and isinstance(args.warmup_steps, int)


class _Tiny:
    """A 2-feature regression as a Trainer model: weight, bias, a norm and a head."""

    @staticmethod
    def build() -> Any:
        import torch
        from torch import nn

        class Model(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = nn.Linear(2, 4)
                self.norm = nn.LayerNorm(4)
                self.head = nn.Linear(4, 1)

            def forward(self, x: Any, labels: Any = None) -> dict[str, Any]:
                out = self.head(self.norm(torch.relu(self.body(x)))).squeeze(-1)
                loss = nn.functional.mse_loss(out, labels) if labels is not None else None
                return {"loss": loss, "logits": out}

        return Model()


def test_learning_rate_warms_up_linearly_to_the_peak_on_the_installed_transformers(
    tmp_path: Path,
) -> None:
    """Reads the rate after step 1 and at the end of warmup: warmup_steps=0.06 meant 0 steps
    on transformers 4 (the peak from step 1) and 6% on 5; the count from total_steps() means
    the same on both, and HF's own step count agrees with total_steps()."""
    import torch
    from transformers import Trainer, TrainerCallback

    torch.manual_seed(0)
    rows = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(50)]
    cfg = TrainSpec(batch_size=4, gradient_accumulation_steps=2, epochs=2, learning_rate=1e-2,
                    warmup_ratio=0.25, save_steps=None, eval_batch_size=8)  # fmt: skip
    steps = total_steps(cfg, len(rows))
    warmup = warmup_steps(cfg, steps)
    assert (steps, warmup) == (14, 4)
    seen: dict[int, float] = {}

    class Rates(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            seen[state.global_step] = kw["optimizer"].param_groups[0]["lr"]

    model = _Tiny.build()
    args = training_arguments(cfg, tmp_path, seed=0, metric="loss", greater_is_better=False,
                              steps=steps)  # fmt: skip
    args.save_strategy = args.eval_strategy = "no"
    args.load_best_model_at_end = False
    trainer = Trainer(model=model, args=args, train_dataset=rows,
                      optimizers=(build_optimizer(model, cfg, ("head",)), None),
                      callbacks=[Rates()])  # fmt: skip
    trainer.train()
    assert trainer.state.max_steps == steps == len(seen)
    assert seen[1] == pytest.approx(cfg.learning_rate / warmup)  # after the first step
    assert seen[warmup] == pytest.approx(cfg.learning_rate)  # the end of warmup: the peak
    assert seen[warmup + 1] < cfg.learning_rate and seen[steps] == pytest.approx(0.0)


def test_one_optimizer_rule_no_decay_on_biases_norms_and_head() -> None:
    model = _Tiny.build()
    cfg = TrainSpec(learning_rate=1e-4, head_learning_rate=1e-2, weight_decay=0.1)
    optimizer = build_optimizer(model, cfg, ("head",))
    by_param = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    groups = {name: by_param[id(p)] for name, p in model.named_parameters()}
    assert (groups["body.weight"]["lr"], groups["body.weight"]["weight_decay"]) == (1e-4, 0.1)
    for name in ("body.bias", "norm.weight", "norm.bias"):
        assert (groups[name]["lr"], groups[name]["weight_decay"]) == (1e-4, 0.0), name
    for name in ("head.weight", "head.bias"):
        assert (groups[name]["lr"], groups[name]["weight_decay"]) == (1e-2, 0.0), name
    model.body.weight.requires_grad_(False)  # frozen parameters are left out
    assert sum(len(g["params"]) for g in build_optimizer(model, cfg, ("head",)).param_groups) == 5


@pytest.mark.parametrize(
    ("precision", "cuda", "native", "used"),
    [
        ("auto", False, True, "fp32"),  # auto never changes CPU numerics
        ("bf16", False, True, "bf16"),
        ("bf16", False, False, "fp32"),  # emulated bf16 is slower than fp32: fall back
        ("fp16", False, True, "fp32"),  # fp16 needs a GPU
        ("fp32", False, True, "fp32"),
        ("auto", True, True, "bf16"),  # Ampere or newer
        ("auto", True, False, "fp16"),  # T4, V100
        ("bf16", True, False, "fp16"),
        ("fp16", True, True, "fp16"),
        ("fp32", True, True, "fp32"),
    ],
)
def test_precision_is_what_the_hardware_does_natively(
    monkeypatch: pytest.MonkeyPatch, precision: str, cuda: bool, native: bool, used: str
) -> None:
    import torch

    from llmline.train import fit

    monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
    assert fit.mixed_precision(TrainSpec(precision=precision), cuda=cuda) == used  # type: ignore[arg-type]


def test_training_arguments_carry_the_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmline.train import fit

    monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: True)
    common: dict[str, Any] = {"seed": 0, "metric": "loss", "greater_is_better": False, "steps": 5}
    bf16 = training_arguments(TrainSpec(precision="bf16"), Path("/tmp/x"), **common)
    assert (bf16.bf16, bf16.fp16, bf16.use_cpu) == (True, False, True)
    fp32 = training_arguments(TrainSpec(), Path("/tmp/x"), **common)
    assert (fp32.bf16, fp32.fp16) == (False, False)


def test_cpu_bf16_training_uses_eager_attention_and_restores_the_models_choice() -> None:
    """A task's head module wrapping an HF encoder: eager inside, sdpa again after, also when
    training fails; fp32 or GPU training leaves the model alone."""
    from types import SimpleNamespace

    from torch import nn
    from transformers import BertConfig, BertModel

    from llmline.train.fit import cpu_bf16_attention

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, attn_implementation="sdpa")  # fmt: skip
    wrapper = nn.Module()
    wrapper.encoder = BertModel(config)
    wrapper.head = nn.Linear(16, 2)
    encoder = wrapper.encoder
    with cpu_bf16_attention(wrapper, SimpleNamespace(bf16=True, use_cpu=True)):
        assert encoder.config._attn_implementation == "eager"
    assert encoder.config._attn_implementation == "sdpa"
    with (
        pytest.raises(RuntimeError),
        cpu_bf16_attention(wrapper, SimpleNamespace(bf16=True, use_cpu=True)),
    ):
        raise RuntimeError("training failed")
    assert encoder.config._attn_implementation == "sdpa"
    for args in (
        SimpleNamespace(bf16=False, use_cpu=True),
        SimpleNamespace(bf16=True, use_cpu=False),
    ):
        with cpu_bf16_attention(wrapper, args):
            assert encoder.config._attn_implementation == "sdpa"


def test_evaluation_lines_lead_with_the_metric_that_picks_the_best_checkpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from types import SimpleNamespace

    from llmline.train.progress import RichProgressCallback

    metrics = {"eval_loss": 0.3, "eval_entity_f1": 0.44, "eval_accuracy": 0.91}
    progress = RichProgressCallback()
    for best, shown in [("entity_f1", "entity_f1 0.44"), ("eval_entity_f1", "entity_f1 0.44"),
                        (None, "accuracy 0.91")]:  # fmt: skip
        args = SimpleNamespace(metric_for_best_model=best)
        progress.on_evaluate(args, SimpleNamespace(global_step=7), None, metrics=metrics)
        assert f"step 7: validation {shown}," in capsys.readouterr().err
    progress.on_evaluate(args, SimpleNamespace(global_step=8), None, metrics={"eval_x": 1.0})
    assert "step 8: validation {'eval_x': 1.0}" in capsys.readouterr().err
