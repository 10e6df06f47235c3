from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.spec import PipelineSpec, explain, load_spec, parse_vars

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_the_path_and_suggests(tmp_path: Path, toy_csv: Path) -> None:
    path = _spec(tmp_path, f"name: x\ndata:\n  source: {{path: {toy_csv}}}\ntrain:\n  epoch: 3\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "train.epoch: unknown key" in err.value.message
    assert "did you mean 'epochs'" in err.value.message


def test_wrong_type_names_the_key(tmp_path: Path, toy_csv: Path) -> None:
    path = _spec(
        tmp_path, f"name: x\ndata:\n  source: {{path: {toy_csv}}}\ntrain:\n  epochs: many\n"
    )
    with pytest.raises(SpecError, match=r"train\.epochs"):
        load_spec(path)


def test_missing_data_file_is_rejected(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: x\ndata:\n  source: {path: /nope/missing.csv}\n")
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(path)


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: x\ndata:\n  source: [unclosed\n")
    with pytest.raises(SpecError, match=r"spec\.yaml:\d+:\d+"):
        load_spec(path)


def test_variables_default_and_override(tmp_path: Path, toy_csv: Path) -> None:
    text = "name: x\nvariables: {dir: /nowhere}\ndata:\n  source: {path: '${dir}/toy.csv'}\n"
    path = _spec(tmp_path, text)
    with pytest.raises(SpecError):
        load_spec(path)
    spec = load_spec(path, {"dir": str(toy_csv.parent)})
    assert spec.data.source.path == toy_csv


def test_unknown_variable_is_an_error(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: x\ndata:\n  source: {path: '${nope}/a.csv'}\n")
    with pytest.raises(SpecError, match=r"\$\{nope\}"):
        load_spec(path)


def test_parse_vars_rejects_bad_pairs() -> None:
    assert parse_vars(["a=1", "b_2=x=y"]) == {"a": "1", "b_2": "x=y"}
    with pytest.raises(SpecError):
        parse_vars(["novalue"])


def test_explain_lists_nested_keys() -> None:
    keys = "\n".join(explain())
    assert "train.learning_rate" in keys
    assert "evaluate.gates.metric" in keys and "evaluate.gates.max" in keys
    # every task's own block, marked with its task
    assert "task_config.label_all_tokens  (default False)" in keys and "[task ner]" in keys
    assert "task_config.generation.system_prompt" in keys
    assert "task_config.pretrain.block_size" in keys
    assert "train.generation" not in keys and "train.label_all_tokens" not in keys


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_validates(
    recipe: Path, tmp_path: Path, shared_datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recipes validate with their declared defaults, run from the repository root."""
    if not shared_datasets.is_dir():
        pytest.skip("shared datasets not present")
    monkeypatch.chdir(recipe.parents[1])
    variables = {}
    if "${data_file}" in recipe.read_text():  # the demo's file is fetched by `make demo`
        demo = tmp_path / "reviews.csv.bz2"
        demo.write_bytes(bz2.compress(b"category,text\nfresh,good\nrotten,bad\n"))
        variables["data_file"] = str(demo)
    text = recipe.read_text(encoding="utf-8")
    variables.update(_stand_ins_for_make_targets(text, tmp_path))
    if "\nwatch:" in text and "\nname:" not in text:  # a watch spec on its own: llmline watch
        from llmline.watch.runner import load_watch_spec

        assert load_watch_spec(recipe, variables).watch_list.is_file()
        return
    assert isinstance(load_spec(recipe, variables), PipelineSpec)


def _stand_ins_for_make_targets(text: str, tmp_path: Path) -> dict[str, str]:
    """Variables whose default lies under .cache/ name files a make target writes (People's
    Daily, the medical pairs): point each at a folder of tiny stand-ins of the files the recipe
    reads from it, NER lines for .txt and `label, question, answer` rows for .tsv."""
    import re

    import yaml

    defaults = (yaml.safe_load(text) or {}).get("variables") or {}
    overrides = {}
    for name, value in defaults.items():
        if not str(value).startswith(".cache/"):
            continue
        folder = tmp_path / name
        folder.mkdir()
        for file in set(re.findall(r"\$\{" + name + r"\}/([\w.-]+)", text)):
            stand_in = "北 B-LOC\n京 I-LOC\n" if file.endswith(".txt") else "1\t问\t答\n0\t问\t错\n"
            (folder / file).write_text(stand_in, encoding="utf-8")
        overrides[name] = str(folder)
    return overrides


@pytest.mark.parametrize("variant", ["chnsenticorp-governed", "chnsenticorp-cda"])
def test_chnsenticorp_variants_train_the_recipes_model(variant: str) -> None:
    """The governed and counterfactual variants differ in what surrounds training, not in the
    model: their train blocks stay the plain recipe's, key for key."""
    import yaml

    folder = RECIPES[0].parent

    def train_block(name: str) -> object:
        return yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))["train"]

    assert train_block(variant) == train_block("chnsenticorp")
