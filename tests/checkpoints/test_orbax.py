"""hawkzoo's own checkpoints: saved with their config, atomically, and read back or refused."""

import errno
import shutil

import equinox as eqx
import jax
import pytest
from recurrentgemma.jax import utils as official_utils

from hawkzoo import checkpoints
from hawkzoo.checkpoints import _orbax
from hawkzoo.model import LanguageModel

from ..official import small_config


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    return LanguageModel(small_config("griffin"), key=jax.random.key(0))


@pytest.fixture(scope="module")
def other() -> LanguageModel:
    return LanguageModel(small_config("griffin"), key=jax.random.key(1))


def test_a_model_comes_back_with_its_config(model, tmp_path):
    checkpoints.save(tmp_path / "model", model)
    loaded = checkpoints.load(tmp_path / "model")
    assert loaded.config == model.config and eqx.tree_equal(loaded, model)
    bf16 = LanguageModel(small_config("hawk", param_dtype="bfloat16"), key=jax.random.key(2))
    checkpoints.save(tmp_path / "bf16", bf16)
    assert eqx.tree_equal(checkpoints.load(tmp_path / "bf16"), bf16)


def test_an_official_flax_checkpoint_folder_loads(model, tmp_path):
    official_utils.save_parameters(str(tmp_path / "official"), checkpoints.to_flax(model))
    assert eqx.tree_equal(checkpoints.load(tmp_path / "official", model.config), model)


def test_saving_again_replaces_the_checkpoint_and_leaves_nothing_beside_it(model, other, tmp_path):
    checkpoints.save(tmp_path / "model", model)
    checkpoints.save(tmp_path / "model", other)
    assert eqx.tree_equal(checkpoints.load(tmp_path / "model"), other)
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_a_full_disk_mid_save_leaves_the_last_checkpoint_loadable(
    model, other, tmp_path, monkeypatch
):
    checkpoints.save(tmp_path / "model", model)
    write = _orbax.write_tree

    def write_then_fill_the_disk(path, tree):
        write(path, tree)  # the arrays are written; then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_orbax, "write_tree", write_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save(tmp_path / "model", other)
    assert eqx.tree_equal(checkpoints.load(tmp_path / "model"), model)
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_a_save_killed_between_its_two_renames_is_undone_on_load(model, tmp_path):
    """What a process killed after setting the old checkpoint aside leaves behind."""
    checkpoints.save(tmp_path / "model", model)
    (tmp_path / "model").rename(tmp_path / ".model.replaced-0a1b2c3d")
    with pytest.warns(UserWarning, match="interrupted save"):
        loaded = checkpoints.load(tmp_path / "model")
    assert eqx.tree_equal(loaded, model) and (tmp_path / "model").is_dir()


def test_a_folder_that_is_not_a_checkpoint_is_never_replaced(model, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a hawkzoo checkpoint"):
        checkpoints.save(tmp_path / "notes", model)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_shapes_that_do_not_fit_the_config_name_the_array(model, tmp_path):
    checkpoints.save(tmp_path / "model", model)
    wider = small_config("griffin", width=64)
    with pytest.raises(ValueError, match=r"params\['embedder'\]\['input_embedding'\] has shape"):
        checkpoints.load(tmp_path / "model", wider)


def test_a_truncated_or_corrupt_checkpoint_is_refused_with_the_reason(model, tmp_path):
    checkpoints.save(tmp_path / "model", model)
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "model", broken)
    for file in (broken / "params").rglob("*"):
        if file.is_file():
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(ValueError, match="is not a readable Orbax checkpoint"):
        checkpoints.load(broken)
    (tmp_path / "model" / "config.json").write_text("{ not json")
    with pytest.raises(ValueError, match="is not a readable hawkzoo config"):
        checkpoints.load(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoints.load(tmp_path / "missing")
