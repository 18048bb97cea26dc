"""Exports: refused when transformers cannot represent the model, exact round trips,
shards, the tokenizer, folders that appear whole, and the command."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest
import safetensors.numpy

from hawkzoo import checkpoints
from hawkzoo.cli import main
from hawkzoo.errors import ExistingPathError, InputError, MissingPathError
from hawkzoo.model import LanguageModel, build

from ..official import small_config

CONFIG = small_config("griffin")


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    return LanguageModel(CONFIG, key=jax.random.key(0))


@pytest.mark.parametrize(
    "changes, reasons",
    [
        (
            dict(logits_soft_cap=None, embedding_scale=False, num_gate_blocks=4),
            [
                "logits_soft_cap=None",
                "embedding_scale=False",
                "num_gate_blocks=4 with num_heads=2",
                "adapt=True (hawkzoo export --adapt) writes an equivalent model",
            ],
        ),
        (dict(num_gate_blocks=3, lru_width=48), ["the heads must divide the blocks)"]),
        (dict(complex_gates=True), ["complex_gates=True"]),
        (dict(block_pattern=("attention",), attention_window=None), ["attention_window=None"]),
    ],
)
def test_a_model_transformers_cannot_represent_is_refused_naming_each_field(
    changes, reasons, tmp_path
):
    model = LanguageModel(small_config("griffin", **changes), key=jax.random.key(0))
    with pytest.raises(InputError) as error:
        checkpoints.save_huggingface(tmp_path / "hf", model)
    assert all(reason in str(error.value) for reason in reasons), error.value
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_huggingface_export_round_trips_exactly_in_shards_with_its_tokenizer(model, tmp_path):
    (tmp_path / "spm.model").write_bytes(b"a SentencePiece model")
    folder = checkpoints.save_huggingface(
        tmp_path / "hf", model, tokenizer=tmp_path / "spm.model", shard_bytes=20_000
    )
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    files = sorted(path.name for path in folder.glob("*.safetensors"))
    assert len(files) > 1 and sorted(set(index["weight_map"].values())) == files
    assert "lm_head.weight" not in index["weight_map"]  # tied to the embedding
    config = json.loads((folder / "config.json").read_text())
    assert config["attention_window_size"] == 1 + (CONFIG.attention_window or 0)
    assert (folder / "tokenizer.model").read_bytes() == b"a SentencePiece model"
    loaded = checkpoints.load(folder)
    assert loaded.config == CONFIG and eqx.tree_equal(loaded, model)


def test_an_adapted_export_round_trips_exactly_and_refuses_arrays_hawkzoo_cannot_hold(tmp_path):
    config = small_config("griffin", num_gate_blocks=4, logits_soft_cap=None, embedding_scale=False)
    model = LanguageModel(config, key=jax.random.key(0))
    folder = checkpoints.save_huggingface(tmp_path / "hf", model, adapt=True)
    loaded = checkpoints.load(folder)
    assert loaded.config == config and eqx.tree_equal(loaded, model)
    file = folder / "model.safetensors"
    arrays = safetensors.numpy.load_file(file)
    gate = "model.layers.0.temporal_block.rg_lru.input_gate_weight"
    assert arrays[gate].shape == (2, 24, 24) and not arrays[gate][:, :12, 12:].any()
    assert not np.array_equal(arrays["lm_head.weight"], arrays["model.embed_tokens.weight"])

    arrays[gate][0, 0, 12] = 1.0  # as training in transformers would
    safetensors.numpy.save_file(arrays, file)
    with pytest.raises(InputError, match="non-zero weights off its 4 gate blocks"):
        checkpoints.load(folder)
    assert checkpoints.load(folder, num_gate_blocks=2).config.num_gate_blocks == 2
    arrays["lm_head.weight"] += 1.0
    safetensors.numpy.save_file(arrays, file)
    with pytest.raises(InputError, match="hawkzoo ties them"):
        checkpoints.load(folder, num_gate_blocks=2)


def test_a_bfloat16_hawk_round_trips_through_every_format(tmp_path):
    config = small_config("hawk", attention_window=None, param_dtype="bfloat16")
    model = LanguageModel(config, key=jax.random.key(0))
    for format in checkpoints.FORMATS:
        folder = checkpoints.export(tmp_path / format, model, format)
        path = folder / "model.safetensors" if format == "torch" else folder
        loaded = checkpoints.load(path, None if format == "hf" else config)
        assert loaded.config == config and eqx.tree_equal(loaded, model), format


def test_an_export_never_replaces_a_folder(model, tmp_path):
    (tmp_path / "taken").mkdir()
    for format in checkpoints.FORMATS:
        with pytest.raises(ExistingPathError, match="not replacing it"):
            checkpoints.export(tmp_path / "taken", model, format)
    with pytest.raises(InputError, match="'onnx' is not one of hf, flax, torch"):
        checkpoints.export(tmp_path / "new", model, "onnx")
    for format in checkpoints.FORMATS:
        with pytest.raises(MissingPathError, match="no tokenizer file at"):
            checkpoints.export(tmp_path / "new", model, format, tokenizer=tmp_path / "nothing")
    with pytest.raises(InputError, match="adapt applies to the hf format only"):
        checkpoints.export(tmp_path / "new", model, "torch", adapt=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


def test_the_command_exports_a_checkpoint_with_its_tokenizer_and_refuses_in_one_line(
    model, tmp_path, capsys
):
    saved = checkpoints.save(tmp_path / "run", model)
    (saved / "tokenizer.model").write_bytes(b"spm")
    assert main(["export", str(saved), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    assert (tmp_path / "hf" / "tokenizer.model").read_bytes() == b"spm"
    assert eqx.tree_equal(checkpoints.load(tmp_path / "hf"), model)
    capsys.readouterr()
    assert build("tiny-griffin").config.logits_soft_cap is None
    assert main(["export", "tiny-griffin", "--format", "hf", "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "logits_soft_cap=None" in error
    # refused before the model is made (the 9B preset would take minutes)
    assert main(["export", "recurrentgemma-9b", "--format", "hf", "--out", str(saved)]) == 2
    assert "exists: not replacing it" in capsys.readouterr().err
