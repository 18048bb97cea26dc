"""Decoding speed under XLA:CPU's flags: does a flag make the small matrix products of a
decoded token faster?

Griffin at the decoding benchmark's config (19.3M parameters, float32) decodes `STEPS`
tokens greedily from position 128 at batch 1 and 8 (`ours` in `benchmarks/decode.py`),
once per flag set, each in a process of its own (XLA reads its flags at start-up); the
default runs first and last, so the drift between processes shows beside the flags' effect.
It writes docs/benchmarks/decode-flags-cpu.{json,md,png}.

    uv run python benchmarks/decode_flags.py
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

STEPS, REPETITIONS, BATCHES = 32, 7, (1, 8)
FLAG_SETS = {
    "default": "",
    "single-threaded Eigen": "--xla_cpu_multi_thread_eigen=false",
    "XNNPACK dot fusions": "--xla_cpu_experimental_xnn_fusion_type=dot",
    "XNNPACK graph fusion": (
        "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY"
    ),
    "oneDNN matmuls": "--xla_cpu_use_onednn=true",
    "no XNNPACK": "--xla_cpu_use_xnnpack=false",
    "fast math": "--xla_cpu_enable_fast_math=true",
    "default, again": "",
}


def child() -> None:
    """Milliseconds a decoding step at each batch, as JSON on stdout."""
    import jax

    from _common import FAMILIES
    from decode import ours
    from hawkzoo.model import LanguageModel

    model = LanguageModel(FAMILIES["griffin"], key=jax.random.key(0))
    figures = {}
    for batch in BATCHES:
        run = ours(model, batch, 128, STEPS)
        run()
        times = []
        for _ in range(REPETITIONS):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        figures[batch] = float(np.median(times)) * 1e3 / STEPS
    print(json.dumps(figures))


def main() -> None:
    rows = []
    for name, flags in FLAG_SETS.items():
        env = os.environ | {"XLA_FLAGS": flags}
        done = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if done.returncode:
            rows.append({"flags": name, "xla_flags": flags, "error": done.stderr.splitlines()[-1]})
        else:
            figures = json.loads(done.stdout.splitlines()[-1])
            rows.append({"flags": name, "xla_flags": flags, "ms_per_token": figures})
        print(rows[-1], flush=True)
    out = Path("docs/benchmarks")
    (out / "decode-flags-cpu.json").write_text(json.dumps(rows, indent=1))
    lines = ["| flags | XLA_FLAGS | batch 1, ms a step | batch 8, ms a step |", "|---|---|---|---|"]
    for row in rows:
        cells = (
            [f"{row['ms_per_token'][str(b)]:.2f}" for b in BATCHES]
            if "ms_per_token" in row
            else [row["error"], ""]
        )
        lines.append(f"| {row['flags']} | `{row['xla_flags']}` | {' | '.join(cells)} |")
    (out / "decode-flags-cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, out / "decode-flags-cpu.png")


def plot(rows: list[dict], path: Path) -> None:
    """ms a step under each flag set, a bar per batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import save_figure

    measured = [row for row in rows if "ms_per_token" in row]
    figure, axis = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(BATCHES)
    for i, batch in enumerate(BATCHES):
        positions = np.arange(len(measured)) + (i - (len(BATCHES) - 1) / 2) * width
        heights = [row["ms_per_token"][str(batch)] for row in measured]
        axis.bar(positions, heights, width, label=f"batch {batch}")
    labels = [textwrap.fill(row["flags"], 14) for row in measured]
    axis.set_xticks(range(len(measured)), labels, fontsize=7)
    axis.set_ylabel("ms a decoding step (Griffin 19.3M)")
    axis.legend(fontsize=7)
    save_figure(figure, path)


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
