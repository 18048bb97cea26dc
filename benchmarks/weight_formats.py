"""Held-out bits per byte of a trained run with its weights in float32, bfloat16 and int8.

The run's latest checkpoint (default: the main job's, `runs/train`) scored on its corpus's
held-out files, at its training length: as trained, cast to bfloat16 (weights and compute),
and through `hawkzoo.quantize` (int8 weights, float32 compute).

    uv run hawkzoo train && uv run python benchmarks/weight_formats.py runs/train
"""

import argparse
import json
from pathlib import Path

import jax.numpy as jnp

from _common import environment
from hawkzoo import checkpoints, quantize
from hawkzoo.data import load_corpus
from hawkzoo.model import cast
from hawkzoo.training import bits_per_byte, held_out_rows, saved_config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", default=Path("runs/train"))
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    config, model = saved_config(args.run), checkpoints.load(args.run)
    rows = held_out_rows(load_corpus(config.data).held_out, config.row_length)
    formats = {"float32": model, "bfloat16": cast(model, jnp.bfloat16), "int8": quantize(model)}
    scores = {name: bits_per_byte(weights, rows) for name, weights in formats.items()}
    for name, score in scores.items():
        print(f"{name:<9} {score:.4f} bits per byte ({score - scores['float32']:+.4f})")
    if args.out:
        record = {"run": str(args.run), "steps": config.steps, "bits_per_byte": scores}
        args.out.write_text(json.dumps(record | {"environment": environment()}, indent=1))


if __name__ == "__main__":
    main()
