"""The paper's long-context finding (section 6.1, Figure 5) in miniature.

Hawk, Griffin and the MQA Transformer (the small presets, Griffin's being the main job's)
are trained on the built-in corpus with the main job's recipe, at its row length of 256
bytes, then their held-out loss is measured by position on the held-out documents longer
than 16 times that. The paper: the recurrent models keep improving (or hold) past the
training length; the Transformer degrades beyond it. Writes JSON, a markdown table and a
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
from hawkzoo.training import TrainConfig, loss_by_position, train

FAMILIES = {"hawk": "small-hawk", "griffin": "small-griffin", "mqa": "small-mqa"}
FACTORS = (1, 2, 4, 8, 16)
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
    train(settings, folder, progress=False, log=lambda _: None)
    seconds = time.perf_counter() - tic
    model = checkpoints.load(folder / "checkpoint")
    length = FACTORS[-1] * settings.row_length
    bits = loss_by_position(model, load_corpus(settings.data).held_out, length) / math.log(2)
    return {
        "family": family,
        "seed": seed,
        "steps": settings.steps,
        "learning_rate": settings.learning_rate,
        "train_length": settings.row_length,
        "parameters": num_parameters(model),
        "train_seconds": seconds,
        "bits_by_position": bits.tolist(),
    }


def at_factors(result: dict) -> list[float]:
    """Mean bits per byte over positions `(k/2, k]` times the training length, for each
    factor `k`: the last half of the training length, then each doubling past it."""
    bits, length = np.asarray(result["bits_by_position"]), result["train_length"]
    edges = [length // 2] + [k * length for k in FACTORS]
    return [float(bits[a:b].mean()) for a, b in itertools.pairwise(edges)]


def markdown(env: dict, record: dict) -> str:
    results = record["results"]
    length = results[0]["train_length"]
    lines = [
        f"JAX {env['jax']}, {env['device_kind']} ({env['machine']}, {env['cpu_count']} cores); "
        f"trained at {length} bytes; {record['documents']} held-out documents of over "
        f"{FACTORS[-1] * length} bytes; the column for k× is the mean over positions "
        f"(k/2, k] × {length}. Baselines over the whole held-out "
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
            + " | ".join(f"{b:.3f}" for b in at_factors(r))
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(record: dict, path: Path) -> None:
    """Bits per byte against position (smoothed over doubling bins), one line per model
    (mean over seeds), the baselines flat, the training length marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    results = record["results"]
    length = results[0]["train_length"]
    edges = [2**i for i in range(int(math.log2(FACTORS[-1] * length)) + 1)]
    centres = [math.sqrt(a * b) for a, b in itertools.pairwise(edges)]
    for family in dict.fromkeys(r["family"] for r in results):
        bits = np.mean([r["bits_by_position"] for r in results if r["family"] == family], 0)
        binned = [bits[a - 1 : b - 1].mean() for a, b in itertools.pairwise(edges)]
        axis.plot(centres, binned, "o-", color=COLOURS[family], label=family)
    for (name, value), style in zip(record["baselines"].items(), (":", "-."), strict=False):
        axis.axhline(value, color="black", ls=style, lw=1, label=name)
    axis.axvline(length, color="grey", ls="--", lw=1, label="training length")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("position in document (bytes)")
    axis.set_ylabel("held-out bits per byte")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    save_figure(figure, path)


def main(argv=None) -> None:
    parser = experiment_parser(
        __doc__.splitlines()[0], FAMILIES, "long-context-cpu", "the main job's"
    )
    args = parser.parse_args(argv)
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
    steps = args.steps or TrainConfig().steps
    args.results.mkdir(parents=True, exist_ok=True)
    for seed in map(int, args.seeds.split(",")):
        for family in args.families.split(","):
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
