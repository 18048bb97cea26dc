"""What the benchmarks share: the small config they compare at, and the versions and
machine reported beside every figure."""

import argparse
import json
import os
import platform
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
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}",
        "cpu_count": os.cpu_count(),
    }


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


def write_results(
    out: Path, stem: str, record: dict, table: str, plot: Callable[[Path], None]
) -> None:
    """`stem`.json (`record`), .md (`table`) and .png (drawn by `plot`) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1))
    (out / f"{stem}.md").write_text(table)
    plot(out / f"{stem}.png")
    print(f"wrote {out / stem}.{{json,md,png}}")
