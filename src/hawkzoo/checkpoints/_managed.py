"""The step-numbered checkpoints of a training run, as Orbax's `CheckpointManager` writes
them: reading a step, or a run's latest, as a model."""

import json
import os
import pathlib
from typing import Any

from ..errors import CheckpointError
from ..model import LanguageModel, ModelConfig
from ._flax import from_flax
from ._integrity import CHECKSUMS_FILE, verify
from ._orbax import CONFIG_FILE, PARAMS_FOLDER, quiet, read_config, read_tree

STEPS_FOLDER = "checkpoints"
"""Where a run's folder keeps its steps: `checkpoints/<step>/`."""
MODEL_ITEM = "model"
"""A step's `model/config.json`: the model config, as a hawkzoo checkpoint's `config.json`."""
TRAINING_ITEM = "training"
"""A step's `training/`: the optimiser state (its own tree) and the PRNG key."""
RECORD_ITEM, RECORD_FILE = "record", "training.json"
"""A step's `record/training.json`: the run's record and the step."""


def is_step(path: str | os.PathLike) -> bool:
    """Whether `path` is one step of a run's managed checkpoints."""
    path = pathlib.Path(path)
    return (path / MODEL_ITEM / CONFIG_FILE).is_file() and (path / PARAMS_FOLDER).is_dir()


def latest_step(run: str | os.PathLike) -> pathlib.Path | None:
    """The folder of the newest step committed in the run folder `run`, or None."""
    import orbax.checkpoint as ocp

    folder = pathlib.Path(run, STEPS_FOLDER).absolute()
    if not folder.is_dir():
        return None
    with quiet():
        options = ocp.CheckpointManagerOptions(read_only=True, create=False)
        with ocp.CheckpointManager(folder, options=options) as manager:
            step = manager.latest_step()
    return None if step is None else folder / str(step)


def verify_step(path: pathlib.Path, only: list[str] | None = None) -> None:
    """Check a step's files against the checksums written once it was committed (Orbax
    commits a step whole or not at all; a step committed by a run that died before it
    wrote them is read as it is)."""
    if (path / CHECKSUMS_FILE).exists():
        verify(path, only)


def load_step(path: pathlib.Path, config: ModelConfig | None = None, **fields) -> LanguageModel:
    verify_step(path)
    if config is None:
        config = read_config(path / MODEL_ITEM / CONFIG_FILE)
    return from_flax(read_tree(path / PARAMS_FOLDER), config, **fields)


def read_record(path: pathlib.Path) -> dict[str, Any]:
    """A step's `record/training.json`, checked."""
    file = path / RECORD_ITEM / RECORD_FILE
    if not file.is_file():
        raise CheckpointError(f"{path} is not a run's checkpoint (no {RECORD_ITEM}/{RECORD_FILE})")
    verify_step(path, [f"{RECORD_ITEM}/{RECORD_FILE}"])
    return json.loads(file.read_text())
