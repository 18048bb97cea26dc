"""Where a run's metrics go besides `metrics.jsonl`: trackers, by name, and callbacks."""

import abc
import json
import os
import pathlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import MissingDependencyError

Callback = Callable[[dict[str, Any]], None]
"""Called with each metrics entry as `metrics.jsonl` gets it: every `log_every` steps the
loss, gradient norm, learning rate and throughput; each evaluation; and the final one,
marked `"final": True`. Every entry has its `"step"`."""


class Tracker(abc.ABC):
    """A callback that writes to a tracking tool: every number of an entry under its name
    at its step, the final evaluation's under `final/`. Made with the run's folder and its
    record (config, corpus, versions); closed when the run ends."""

    @abc.abstractmethod
    def __init__(self, out: pathlib.Path, record: dict[str, Any]): ...

    @abc.abstractmethod
    def __call__(self, entry: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class TensorBoard(Tracker):
    """Event files in the run's `tensorboard/`, the record as the text `record`. Needs
    tensorboardX (`pip install 'hawkzoo[tensorboard]'`)."""

    def __init__(self, out: pathlib.Path, record: dict[str, Any]):
        SummaryWriter = _require("tensorboardX", "tensorboard").SummaryWriter
        self._writer = SummaryWriter(str(out / "tensorboard"))
        self._writer.add_text("record", f"```\n{json.dumps(record, indent=2)}\n```")

    def __call__(self, entry: dict[str, Any]) -> None:
        for name, value in _scalars(entry):
            self._writer.add_scalar(name, value, entry["step"])

    def close(self) -> None:
        self._writer.close()


class WandB(Tracker):
    """A Weights & Biases run named after the run's folder, with its files in that folder's
    `wandb/` and the record as its config. W&B's own environment settings apply
    (`WANDB_PROJECT`, default `hawkzoo`; `WANDB_MODE=offline` to keep it local). A resumed
    run continues its W&B run (its id is kept in `wandb/run-id`), which ignores the steps
    it already has. Needs wandb (`pip install 'hawkzoo[wandb]'`)."""

    def __init__(self, out: pathlib.Path, record: dict[str, Any]):
        wandb = _require("wandb", "wandb")
        folder = out / "wandb"
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / "run-id"
        if not id_file.is_file():
            id_file.write_text(uuid.uuid4().hex[:12] + "\n")
        self._run = wandb.init(
            dir=str(out),
            project=os.environ.get("WANDB_PROJECT", "hawkzoo"),
            name=out.absolute().name,
            id=id_file.read_text().strip(),
            resume="allow",
            config=record,
        )

    def __call__(self, entry: dict[str, Any]) -> None:
        self._run.log(dict(_scalars(entry)), step=entry["step"])

    def close(self) -> None:
        self._run.finish()


TRACKERS: dict[str, type[Tracker]] = {"tensorboard": TensorBoard, "wandb": WandB}
"""The trackers `TrainConfig.trackers` may name."""


def open_trackers(names: Sequence[str], out: pathlib.Path, record: dict[str, Any]) -> list[Tracker]:
    return [TRACKERS[name](out, record) for name in names]


def _scalars(entry: dict[str, Any]) -> Iterator[tuple[str, float]]:
    prefix = "final/" if entry.get("final") else ""
    for name, value in entry.items():
        if name not in ("step", "final"):
            yield prefix + name, value


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(
            f"the {extra} tracker needs {module}: pip install 'hawkzoo[{extra}]'"
        ) from None
