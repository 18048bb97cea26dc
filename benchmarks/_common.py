"""What the benchmarks share: the small config they compare at, and the versions and
machine reported beside every figure."""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Collection
from pathlib import Path

import jax
import jaxlib
import numpy as np

from hawkzoo.model import ModelConfig

BASE = ModelConfig(
    vocab_size=256,
    width=512,
    mlp_width=1536,
    lru_width=512,
    num_heads=4,
    num_gate_blocks=4,
    num_layers=6,
    block_pattern=("recurrent", "recurrent", "attention"),
    attention_window=256,
    embedding_scale=True,
    logits_soft_cap=30.0,
)  # 19.3M parameters
FAMILIES = {
    "hawk": BASE.replace(block_pattern=("recurrent",)),
    "griffin": BASE,
    "mqa": BASE.replace(block_pattern=("attention",), attention_window=None),
}


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "machine": f"{platform.machine()}, {cpu_model()}",
        "cpu_count": os.cpu_count(),
    }


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere what `platform` knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def interleaved[T](
    runs: dict[str, Callable[[], T]], repetitions: int
) -> tuple[dict[str, T], dict[str, list[float]]]:
    """Each run once (its compile; what it returns is kept), then `repetitions` rounds of
    all of them in turn, timed: machine noise falls on every run alike."""
    first = {name: run() for name, run in runs.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repetitions):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return first, times


def spread(seconds: list[float], per: float = 1.0) -> dict:
    """Median, p10 and p90 in milliseconds, of each time divided by `per`."""
    ms = np.asarray(seconds) * 1e3 / per
    return {
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
    }


def arguments(description: str, sizes: Collection[str], argv=None) -> argparse.Namespace:
    """`--size` (one of `sizes`, default `small`) and `--out` (default benchmarks/results)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", choices=sorted(sizes), default="small")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args(argv)


def experiment_parser(
    description: str, families: Collection[str], name: str, steps: str
) -> argparse.ArgumentParser:
    """The flags of the paper's experiments: which models and seeds, how long, and where
    the runs and results go (`name`.json, kept and resumed unless `--fresh`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--families", type=names_of(families), default=",".join(families))
    parser.add_argument("--seeds", type=seeds, default="0,1,2")
    parser.add_argument("--steps", type=positive, help=f"training steps (default: {steps})")
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--results", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--name", default=name)
    parser.add_argument(
        "--fresh", action="store_true", help="start over (default: keep the runs in the JSON)"
    )
    return parser


def names_of(allowed: Collection[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each one of `allowed`."""

    def parse(text: str) -> list[str]:
        chosen = text.split(",")
        if unknown := [name for name in chosen if name not in allowed]:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}"
            )
        return chosen

    return parse


def seeds(text: str) -> list[int]:
    """An argparse type: comma-separated seeds, integers ≥ 0."""
    chosen = text.split(",")
    if not all(seed.isdigit() for seed in chosen):
        raise argparse.ArgumentTypeError(f"{text!r}: seeds are integers ≥ 0, comma-separated")
    return [int(seed) for seed in chosen]


def positive(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: an integer ≥ 1")
    return int(text)


def save_figure(figure, path: Path) -> None:
    """Lay out, write at 120 dpi and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_results(
    out: Path, stem: str, record: dict, table: str, plot: Callable[[Path], None]
) -> None:
    """`stem`.json (`record`), .md (`table`) and .png (drawn by `plot`) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1))
    (out / f"{stem}.md").write_text(table)
    plot(out / f"{stem}.png")
    print(f"wrote {out / stem}.{{json,md,png}}")
