"""hawkzoo's own checkpoints: saved with their config, atomically, and read back or refused."""

import errno
import shutil

import equinox as eqx
import jax
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from recurrentgemma.jax import utils as official_utils

from hawkzoo import checkpoints
from hawkzoo.checkpoints import _orbax
from hawkzoo.errors import CheckpointError
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
    with pytest.raises(CheckpointError, match=r"is corrupt: params/\S+ has \d+ bytes, \d+ were"):
        checkpoints.load(broken)
    shutil.rmtree(broken)
    shutil.copytree(tmp_path / "model", broken)
    next(file for file in (broken / "params").rglob("*") if file.is_file()).unlink()
    with pytest.raises(CheckpointError, match=r"is incomplete: params/\S+ is missing"):
        checkpoints.load(broken)
    (broken / "checksums.json").unlink()
    with pytest.raises(CheckpointError, match=r"is incomplete: checksums\.json is missing"):
        checkpoints.load(broken)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoints.load(tmp_path / "missing")


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return checkpoints.save(tmp_path_factory.mktemp("saved") / "model", model)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_in_any_file_is_reported_as_corrupt_never_loaded(saved, data):
    files = sorted(file for file in saved.rglob("*") if file.is_file())
    file = data.draw(st.sampled_from(files), label="file")
    original = file.read_bytes()
    at = data.draw(st.integers(0, len(original) - 1), label="offset")
    changed = bytearray(original)
    changed[at] ^= data.draw(st.integers(1, 255), label="xor")
    file.write_bytes(changed)
    try:
        with pytest.raises(CheckpointError, match="is corrupt"):
            checkpoints.load(saved)
    finally:
        file.write_bytes(original)


def test_a_checkpoint_from_before_checksums_loads_with_a_warning(model, tmp_path):
    path = checkpoints.save(tmp_path / "model", model)
    (path / "checksums.json").unlink()
    config = path / "config.json"
    config.write_text(config.read_text().replace("hawkzoo-checkpoint/2", "hawkzoo-checkpoint/1"))
    with pytest.warns(UserWarning, match="predates checksums"):
        assert eqx.tree_equal(checkpoints.load(path), model)


def test_what_a_save_killed_after_its_renames_left_is_cleared_by_the_next(model, other, tmp_path):
    path = checkpoints.save(tmp_path / "model", model)
    shutil.copytree(path, tmp_path / ".model.replaced-0a1b2c3d")  # the old one, not yet deleted
    (tmp_path / ".model.saving-4e5f6a7b").mkdir()  # and a staging folder of an earlier crash
    assert eqx.tree_equal(checkpoints.load(path), model)
    checkpoints.save(path, other)
    assert [entry.name for entry in tmp_path.iterdir()] == ["model"]


def test_a_full_disk_that_orbax_reports_as_a_value_error_is_an_os_error(
    model, tmp_path, monkeypatch
):
    import orbax.checkpoint as ocp

    def full(self, path, tree):
        raise ValueError("[Errno 28] No space left on device")

    monkeypatch.setattr(ocp.PyTreeCheckpointer, "save", full)
    with pytest.raises(OSError, match=r"writing \S+params failed: \[Errno 28\] No space left"):
        checkpoints.save(tmp_path / "model", model)
    assert list(tmp_path.iterdir()) == []
