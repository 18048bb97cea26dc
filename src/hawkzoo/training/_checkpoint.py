"""A training run's checkpoint: a hawkzoo checkpoint plus what resuming needs."""

import json
import os
import pathlib
from typing import Any, NamedTuple

import jax

from ..checkpoints import load, save
from ..checkpoints._orbax import read_tree, recover, verify_checkpoint, write_tree
from ..checkpoints._staging import copy_tokenizer
from ..errors import InputError, MissingPathError
from ..model import LanguageModel

TRAINING_FOLDER = "training"
RECORD_FILE = "training.json"


class RunState(NamedTuple):
    """Where a run stands: the model, the optimiser state, the next step, the PRNG key."""

    model: LanguageModel
    opt_state: Any
    step: int
    key: jax.Array


def save_run(
    path: pathlib.Path,
    state: RunState,
    record: dict[str, Any],
    tokenizer: str | os.PathLike | None = None,
) -> None:
    """Save atomically (see [`save`][hawkzoo.checkpoints.save]): the model as any hawkzoo
    checkpoint, then `training/` (optimiser state and key, an Orbax tree),
    `training.json` (`record` and the step) and the SentencePiece `tokenizer`, if any, as
    `tokenizer.model`."""

    def write_training(folder: pathlib.Path) -> None:
        leaves = jax.tree.leaves(state.opt_state)
        tree = {"opt_state": {str(i): leaf for i, leaf in enumerate(leaves)}}
        write_tree(folder / TRAINING_FOLDER, tree | {"key": jax.random.key_data(state.key)})
        (folder / RECORD_FILE).write_text(
            json.dumps(record | {"step": state.step}, indent=2) + "\n"
        )
        copy_tokenizer(None if tokenizer is None else pathlib.Path(tokenizer), folder)

    save(path, state.model, write_more=write_training)


def read_record(path: pathlib.Path) -> dict[str, Any]:
    """`training.json` of the checkpoint at `path`, checked against its checksum (after
    putting back a checkpoint that an interrupted save set aside)."""
    recover(path)
    if not (path / RECORD_FILE).is_file():
        raise MissingPathError(f"no training checkpoint at {path} (no {RECORD_FILE})")
    verify_checkpoint(path, [RECORD_FILE])
    return json.loads((path / RECORD_FILE).read_text())


def load_run(path: pathlib.Path, opt_state_like: Any) -> RunState:
    """The run state saved at `path`; `opt_state_like` gives the optimiser state's structure."""
    record = read_record(path)
    model = load(path)
    tree = read_tree(path / TRAINING_FOLDER)
    saved = tree["opt_state"]
    leaves, structure = jax.tree.flatten(opt_state_like)
    if len(saved) != len(leaves):
        raise InputError(
            f"{path}'s optimiser state has {len(saved)} arrays, this run's optimiser {len(leaves)}"
        )
    restored = [jax.numpy.asarray(saved[str(i)], dtype=like.dtype) for i, like in enumerate(leaves)]
    key = jax.random.wrap_key_data(jax.numpy.asarray(tree["key"]))
    return RunState(model, jax.tree.unflatten(structure, restored), record["step"], key)
