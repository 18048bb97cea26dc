"""Line plots for runs and evaluations, written as PNG."""

import pathlib
from collections.abc import Mapping, Sequence


def line_plot(
    path: pathlib.Path,
    series: Mapping[str, tuple[Sequence[int | float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
) -> None:
    """One line per `label: (xs, ys)` of `series`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for label, (xs, ys) in series.items():
        axis.plot(xs, ys, "o-" if len(xs) < 30 else "-", label=label)
    if logx:
        axis.set_xscale("log", base=2)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
