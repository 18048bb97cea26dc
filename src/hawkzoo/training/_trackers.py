"""Where a run's metrics go besides `metrics.jsonl`: trackers, by name, and callbacks."""

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MissingDependencyError

Callback = Callable[[dict[str, Any]], None]
"""Called with each metrics entry as `metrics.jsonl` gets it: every `log_every` steps the
loss, gradient norm, learning rate and throughput; each evaluation; and the final one,
marked `"final": True`. Every entry has its `"step"`."""


class TensorBoard:
    """A tracker: every number of an entry as a TensorBoard scalar of its name at its step
    (the final evaluation's under `final/`), in event files in `folder`. Needs tensorboardX
    (`pip install 'hawkzoo[tensorboard]'`)."""

    def __init__(self, folder: pathlib.Path):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise MissingDependencyError(
                "the tensorboard tracker needs tensorboardX: pip install 'hawkzoo[tensorboard]'"
            ) from None
        self._writer = SummaryWriter(str(folder))

    def __call__(self, entry: dict[str, Any]) -> None:
        prefix = "final/" if entry.get("final") else ""
        for name, value in entry.items():
            if name not in ("step", "final"):
                self._writer.add_scalar(prefix + name, value, entry["step"])

    def close(self) -> None:
        self._writer.close()


TRACKERS = {"tensorboard": (TensorBoard, "tensorboard")}
"""Tracker name: (its class, the folder of the run it writes to)."""


def open_trackers(names: Sequence[str], out: pathlib.Path) -> list[TensorBoard]:
    return [TRACKERS[name][0](out / TRACKERS[name][1]) for name in names]
