"""Training settings: TOML files, dotted overrides, and what is refused."""

import pytest

from hawkzoo.data import SelectiveCopying
from hawkzoo.training import TrainConfig
from hawkzoo.training._config import apply_overrides, load_config, make_config


def test_a_config_file_with_tables_and_overrides_on_top(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'preset = "tiny-hawk"\nsteps = 50\n[model]\nnum_layers = 5\n[task_options]\nnum_data = 8\n'
    )
    fields = apply_overrides(
        load_config(path) | {"task": "selective-copying"},
        ["model.num_layers=2", "model.vocab_size=16", "learning_rate=1e-3", "data=some/path"],
    )
    config = make_config(fields)
    assert (config.preset, config.steps, config.learning_rate, config.data) == (
        "tiny-hawk", 50, 1e-3, "some/path",
    )  # fmt: skip
    assert config.model_config().num_layers == 2 and config.model_config().vocab_size == 16
    task = config.make_task()
    assert isinstance(task, SelectiveCopying) and task.num_data == 8
    assert config.row_length == 256  # the task's training length
    assert config == make_config(config.to_dict())  # what a checkpoint saves reads back


def test_text_rows_are_256_tokens_unless_set():
    assert TrainConfig().row_length == 256 and TrainConfig(seq_len=64).row_length == 64


def test_bad_files_and_overrides_are_refused_by_name(tmp_path):
    (tmp_path / "bad.toml").write_text("steps = = 3")
    with pytest.raises(ValueError, match=r"bad\.toml is not valid TOML"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match=r"'steps\.x=1': steps is not a table"):
        apply_overrides({"steps": 3}, ["steps.x=1"])
    with pytest.raises(
        ValueError, match=r"TrainConfig\.learning_rate must be a finite number > 0, got inf"
    ):
        TrainConfig(learning_rate=float("inf"))
