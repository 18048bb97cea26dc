"""A training run's checkpoints: step-numbered, kept and committed by Orbax's
`CheckpointManager`, each step a model that `load` reads plus what resuming needs."""

import dataclasses
import errno
import pathlib
from typing import Any, NamedTuple

import jax
import numpy as np

from ..checkpoints._flax import to_flax
from ..checkpoints._integrity import CHECKSUMS_FILE, write_checksums
from ..checkpoints._managed import (
    MODEL_ITEM,
    RECORD_FILE,
    RECORD_ITEM,
    STEPS_FOLDER,
    TRAINING_ITEM,
    load_step,
    read_record,
)
from ..checkpoints._orbax import CONFIG_FILE, FORMAT, PARAMS_FOLDER, quiet
from ..distributed import barrier, is_main_process
from ..errors import CheckpointError
from ..model import LanguageModel


class RunState(NamedTuple):
    """Where a run stands: the model, the optimiser state, the next step, the PRNG key."""

    model: LanguageModel
    opt_state: Any
    step: int
    key: jax.Array


class RunCheckpoints:
    """The run folder's `checkpoints/<step>/`, through Orbax's `CheckpointManager`.

    The newest `keep` steps are kept; `async_saves` writes in the background while training
    goes on. Orbax writes each step to a temporary folder and renames it into place once
    whole, so a crash or a full disk mid-save leaves the steps before it loadable (the
    next opening removes what the save left). A step holds `params/` (the model, an Orbax
    tree in the official Flax layout), `model/config.json`, `training/` (the optimiser
    state as its own tree, and the PRNG key), `record/training.json` (the run's record and
    the step) and, written once Orbax has committed it, `checksums.json`, which loads check.
    """

    def __init__(self, out: pathlib.Path, *, keep: int, async_saves: bool):
        import orbax.checkpoint as ocp

        self._async = async_saves
        self.folder = pathlib.Path(out, STEPS_FOLDER).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            enable_async_checkpointing=async_saves,
            cleanup_tmp_directories=True,
        )
        handlers = {
            MODEL_ITEM: ocp.JsonCheckpointHandler(CONFIG_FILE),
            RECORD_ITEM: ocp.JsonCheckpointHandler(RECORD_FILE),
            PARAMS_FOLDER: ocp.StandardCheckpointHandler(),
            TRAINING_ITEM: ocp.StandardCheckpointHandler(),
        }
        with quiet():
            self._manager = ocp.CheckpointManager(
                self.folder, options=options, item_handlers=handlers
            )
        self._seal()  # a step committed by a run that died before sealing it

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: RunState, record: dict[str, Any]) -> None:
        """Save `state` as step `state.step` (see the class); any failure is an `OSError`."""
        import orbax.checkpoint as ocp

        model = state.model
        items = {
            PARAMS_FOLDER: ocp.args.StandardSave({"params": to_flax(model)}),
            MODEL_ITEM: ocp.args.JsonSave(
                {"format": FORMAT, "config": dataclasses.asdict(model.config)}
            ),
            TRAINING_ITEM: ocp.args.StandardSave(  # the key, in every process alike, as NumPy
                {"opt_state": state.opt_state, "key": np.asarray(jax.random.key_data(state.key))}
            ),
            RECORD_ITEM: ocp.args.JsonSave(record | {"step": state.step}),
        }
        try:
            with quiet():
                self.wait()  # and seal the step saved before, in the background
                self._manager.save(state.step, args=ocp.args.Composite(**items), force=True)
                if not self._async:
                    self.wait()
        except OSError:
            raise
        except Exception as error:  # Orbax reports a full disk as a `ValueError`
            raise OSError(errno.EIO, f"{type(error).__name__}: {error}") from error

    def wait(self) -> None:
        """Wait for a save in the background to commit, and seal it."""
        self._manager.wait_until_finished()
        self._seal()

    def restore(self, opt_state_like: Any) -> RunState:
        """The latest step's state; `opt_state_like` gives the optimiser state's structure."""
        import orbax.checkpoint as ocp

        step = self.latest()
        if step is None:
            raise CheckpointError(f"{self.folder} holds no committed step")
        path = self.folder / str(step)
        model, record = load_step(path), read_record(path)
        like = {"opt_state": opt_state_like, "key": jax.random.key_data(jax.random.key(0))}
        try:
            with quiet():
                saved = self._manager.restore(
                    step,
                    args=ocp.args.Composite(
                        **{TRAINING_ITEM: ocp.args.StandardRestore(_on_host(like))}
                    ),
                )[TRAINING_ITEM]
        except Exception as error:  # Orbax raises bare `Exception`s too
            raise CheckpointError(
                f"{path}/{TRAINING_ITEM} does not fit this run's optimiser: {error}"
            ) from None
        saved = jax.tree.map(jax.numpy.asarray, saved)
        key = jax.random.wrap_key_data(saved["key"])
        return RunState(model, saved["opt_state"], record["step"], key)

    def close(self) -> None:
        self.wait()
        self._manager.close()

    def _seal(self) -> None:
        """Checksums for every committed step without them, by process 0 for all."""
        if is_main_process():
            for step in self._manager.all_steps():
                folder = self.folder / str(step)
                if folder.is_dir() and not (folder / CHECKSUMS_FILE).exists():
                    write_checksums(folder)
        barrier("hawkzoo: steps sealed")


def _on_host(tree: Any) -> Any:
    """`tree`'s shapes and dtypes as NumPy arrays, to restore into in every process alike
    (the run then places them as it places a fresh state)."""
    return jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), tree)
