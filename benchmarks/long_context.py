"""The paper's long-context finding (section 6.1, Figure 5) in miniature.

Hawk, Griffin and the MQA Transformer (the small presets, Griffin's being the main job's)
are trained on the built-in corpus with the main job's recipe cut to `STEPS` steps, at its
row length of 256 bytes; then their held-out loss is measured by position on the held-out
documents longer than 16 times that, read whole and read in windows of the training length
(which takes the content of each position out of the comparison). The paper: the recurrent
models keep improving (or hold) past the training length; the Transformer degrades beyond
it. Writes JSON, a markdown table and a
PNG; runs already in the JSON are kept (`--fresh` starts over).
"""

import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import environment, experiment_parser, save_figure
from hawkzoo import checkpoints
from hawkzoo.data import gzip_bits_per_byte, load_corpus, ngram_bits_per_byte
from hawkzoo.model import num_parameters
from hawkzoo.training import TrainConfig, keep_freed_memory, loss_by_position, train

FAMILIES = {"hawk": "small-hawk", "griffin": "small-griffin", "mqa": "small-mqa"}
FACTORS = (1, 2, 4, 8, 16)
STEPS = 500
"""Half the main job's steps: 3 models × 3 seeds in about 40 minutes on 2 cores."""
COLOURS = {"hawk": "tab:blue", "griffin": "tab:green", "mqa": "tab:red"}


def run(family: str, seed: int, out: Path, steps: int) -> dict:
    """Train one model with the main job's settings, then its bits per byte by position."""
    settings = TrainConfig(
        preset=FAMILIES[family],
        seed=seed,
        steps=steps,
        eval_every=steps,
        checkpoint_every=steps,
        sample_tokens=0,
    )
    folder = out / f"{family}-{seed}-{settings.steps}"
    tic = time.perf_counter()
    train(settings, folder, resume=folder.exists(), progress=False, log=lambda _: None)
    seconds = time.perf_counter() - tic
    model = checkpoints.load(folder)
    held_out, length = load_corpus(settings.data).held_out, FACTORS[-1] * settings.row_length
    whole = loss_by_position(model, held_out, length) / math.log(2)
    windowed = loss_by_position(model, held_out, length, window=settings.row_length) / math.log(2)
    return {
        "family": family,
        "seed": seed,
        "steps": settings.steps,
        "learning_rate": settings.learning_rate,
        "train_length": settings.row_length,
        "parameters": num_parameters(model),
        "train_seconds": seconds,
        "machine": environment()["machine"],
        "bits_by_position": whole.tolist(),
        "bits_windowed": windowed.tolist(),
    }


def at_factors(result: dict, bits: str = "bits_by_position") -> list[float]:
    """Mean bits per byte over positions `(k/2, k]` times the training length, for each
    factor `k`: the last half of the training length, then each doubling past it. `bits`:
    read whole (`bits_by_position`) or in windows of the training length (`bits_windowed`)."""
    bits, length = np.asarray(result[bits]), result["train_length"]
    edges = [length // 2] + [k * length for k in FACTORS]
    return [float(bits[a:b].mean()) for a, b in itertools.pairwise(edges)]


def gains(result: dict) -> list[float]:
    """At each factor, the bits per byte read whole less those read in windows of the
    training length (0 at 1×, where both see the same bytes)."""
    windowed = at_factors(result, "bits_windowed")
    return [a - b for a, b in zip(at_factors(result), windowed, strict=True)]


def markdown(env: dict, record: dict) -> str:
    results = record["results"]
    length = results[0]["train_length"]
    lines = [
        f"JAX {env['jax']}, {env['device_kind']} ({env['machine']}, {env['cpu_count']} cores); "
        f"trained at {length} bytes; {record['documents']} held-out documents of over "
        f"{FACTORS[-1] * length} bytes; the column for k× is the mean over positions "
        f"(k/2, k] × {length}, read whole, and in brackets its difference from the same "
        f"bytes read in windows of {length} (each byte seeing {length // 2}-{length} back): "
        "below 0, the context past the training length helps. Baselines over the whole held-out "
        f"text: gzip -9 {record['baselines']['gzip -9']:.3f}, order-3 byte n-gram "
        f"{record['baselines']['order-3 byte n-gram']:.3f} bits per byte.",
        "",
        "| model | seed | steps | parameters | train time | "
        + " | ".join(f"{k}×" for k in FACTORS)
        + " |",
        "|---" * (5 + len(FACTORS)) + "|",
    ]
    for r in results:
        lines.append(
            f"| {r['family']} | {r['seed']} | {r['steps']} | {r['parameters']:,} "
            f"| {r['train_seconds']:.0f} s | "
            + " | ".join(
                f"{b:.3f}" + (f" ({d:+.3f})" if k > 1 else "")
                for k, b, d in zip(FACTORS, at_factors(r), gains(r), strict=True)
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(record: dict, path: Path) -> None:
    """Bits per byte against position, each point the mean over positions (x/2, x] (so
    the points at k times the training length are `at_factors`'), one line per model (mean
    over seeds), the baselines flat; beside it, read whole less read in windows of the
    training length (mean and range over seeds); the training length marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (axis, difference) = plt.subplots(1, 2, figsize=(12, 4))
    results = record["results"]
    length = results[0]["train_length"]
    ends = [2**i for i in range(int(math.log2(FACTORS[-1] * length)) + 1)]
    bins = list(itertools.pairwise([0, *ends]))
    for family in dict.fromkeys(r["family"] for r in results):
        runs = [r for r in results if r["family"] == family]
        whole, windowed = (
            np.array([[np.mean(r[bits][a:b]) for a, b in bins] for r in runs])
            for bits in ("bits_by_position", "bits_windowed")
        )
        label = f"{family} ({len(runs)} seed{'s' * (len(runs) > 1)})"
        axis.plot(ends, whole.mean(0), "o-", color=COLOURS[family], label=label)
        gain = whole - windowed
        difference.plot(ends, gain.mean(0), "o-", color=COLOURS[family], label=label)
        difference.fill_between(ends, gain.min(0), gain.max(0), color=COLOURS[family], alpha=0.2)
    for (name, value), style in zip(record["baselines"].items(), (":", "-."), strict=False):
        axis.axhline(value, color="black", ls=style, lw=1, label=name)
    difference.axhline(0, color="black", lw=1)
    axis.set_ylabel("held-out bits per byte, documents read whole")
    difference.set_ylabel(f"read whole − read in windows of {length}")
    for panel in (axis, difference):
        panel.axvline(length, color="grey", ls="--", lw=1, label="training length")
        panel.set_xscale("log", base=2)
        panel.set_xlabel("position in document (bytes), each point the mean over (x/2, x]")
        panel.grid(alpha=0.3)
        panel.legend(fontsize=8)
    save_figure(figure, path)


def main(argv=None) -> None:
    parser = experiment_parser(__doc__.splitlines()[0], FAMILIES, "long-context-cpu", f"{STEPS}")
    args = parser.parse_args(argv)
    keep_freed_memory()
    out = args.out or Path(tempfile.mkdtemp(prefix="hawkzoo-long-"))
    corpus = load_corpus("stdlib")
    longest = FACTORS[-1] * TrainConfig().row_length
    record = {
        "environment": environment(),
        "documents": sum(len(d.data) > longest for d in corpus.held_out),
        "baselines": {
            "gzip -9": gzip_bits_per_byte(corpus.held_out),
            "order-3 byte n-gram": ngram_bits_per_byte(corpus.train, corpus.held_out, 3),
        },
        "results": [],
    }
    base = args.results / args.name
    if not args.fresh and base.with_suffix(".json").exists():
        record["results"] = json.loads(base.with_suffix(".json").read_text())["results"]
    steps = args.steps or STEPS
    args.results.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for family in args.families:
            if any(
                (r["family"], r["seed"], r["steps"]) == (family, seed, steps)
                for r in record["results"]
            ):
                continue  # measured already: an interrupted reproduction resumes
            result = run(family, seed, out, steps)
            record["results"].append(result)
            factors = ", ".join(
                f"{k}×: {b:.3f}" for k, b in zip(FACTORS, at_factors(result), strict=True)
            )
            print(f"{family} seed {seed}: {result['train_seconds']:.0f} s; {factors}", flush=True)
            base.with_suffix(".json").write_text(json.dumps(record, indent=1))
            base.with_suffix(".md").write_text(markdown(record["environment"], record))
            plot(record, base.with_suffix(".png"))
    print(markdown(record["environment"], record))


if __name__ == "__main__":
    main()
