"""Decoding speed under XLA:CPU's flags: does a flag make the small matrix products of a
decoded token faster?

Griffin at the decoding benchmark's config (19.3M parameters, float32) decodes `STEPS`
tokens greedily from position 128 at batch 1 and 8 (`ours` in `benchmarks/decode.py`),
once per flag set, each in a process of its own (XLA reads its flags at start-up); the
default runs first and last, so the drift between processes shows beside the flags' effect.

    uv run python benchmarks/decode_flags.py
"""

import json
import os
import subprocess
import sys
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


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
