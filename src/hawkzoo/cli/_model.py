"""The commands' model argument: a preset (random weights, or official ones) or a checkpoint,
and the tokenizer kept beside it."""

import argparse
import pathlib

import jax

from .. import checkpoints
from .._checks import integer
from ..checkpoints import load
from ..errors import InputError, MissingPathError
from ..model import LanguageModel, build, presets


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=f"a preset ({', '.join(presets())}) or a checkpoint folder")
    parser.add_argument("--checkpoint", help="an official Flax checkpoint folder for the preset")
    parser.add_argument(
        "--seed", type=int, default=0, help="a preset's random weights (sample: and its choices)"
    )


def model_from(args: argparse.Namespace) -> LanguageModel:
    integer(0, 2**32 - 1).check("--seed", args.seed)
    if args.model in presets():
        if args.checkpoint:
            return load(args.checkpoint, build(args.model).config)
        return build(args.model, key=jax.random.key(args.seed))
    if args.checkpoint:
        raise InputError("--checkpoint goes with a preset name, not with a checkpoint folder")
    try:
        return load(args.model)
    except MissingPathError:
        raise InputError(f"{args.model!r} is neither a preset nor a checkpoint folder") from None


def draft_from(folder: str) -> LanguageModel:
    """The draft model of `--draft`: a checkpoint or run folder."""
    try:
        return load(folder)
    except MissingPathError:
        raise InputError(f"--draft {folder!r} is not a checkpoint or run folder") from None


def tokenizer_beside(args: argparse.Namespace) -> pathlib.Path | None:
    """The `tokenizer.model` in the checkpoint folder (or run folder) named by `model`."""
    return checkpoints.tokenizer_beside(args.model)
