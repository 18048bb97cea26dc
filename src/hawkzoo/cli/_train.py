"""`hawkzoo train`: train a model on the built-in corpus, a text path or a synthetic task."""

import argparse
import sys

import jax

from ..distributed import is_main_process
from ..errors import InputError, RunFailure
from ..training import TRACKERS, TrainConfig, saved_config, train
from ..training._config import apply_overrides, load_config, make_config
from ._mesh import add_flags as add_mesh_flags, mesh_from
from ._processes import add_flags as add_process_flags

FLAGS = {  # flag: (config field, type, help)
    "preset": (str, "a model preset (default small-griffin)"),
    "initialize_from": (
        str,
        "start from these weights (fine-tuning): a checkpoint of any format, or a run folder",
    ),
    "task": (
        str,
        "a synthetic task instead of text: selective-copying, induction-heads, mqar, phonebook",
    ),
    "data": (str, "'stdlib' (the built-in corpus, default) or a text file or folder"),
    "tokenizer": (
        str,
        "a SentencePiece model for the text (default: the one kept with --initialize-from, "
        "else bytes)",
    ),
    "steps": (int, "optimiser steps"),
    "batch_size": (int, "rows per step"),
    "seq_len": (int, "tokens per row"),
    "learning_rate": (float, "the peak learning rate"),
    "seed": (int, "weights, data order and sampling"),
    "backend": (str, "the scan backend of every model call: steps, evaluations, the sample"),
}


def add_to(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model",
        description="Train a model (the small Griffin on the built-in standard-library corpus "
        "by default), save a checkpoint, plot the loss and sample from it.",
    )
    parser.add_argument("--config", help="a TOML file of training settings")
    for name, (kind, text) in FLAGS.items():
        flag = "--lr" if name == "learning_rate" else "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, type=kind, help=text)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="any setting, dotted into tables (model.num_layers=5; repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--tracker",
        action="append",
        dest="trackers",
        choices=TRACKERS,
        help="send the metrics to this tracker too (repeatable)",
    )
    parser.add_argument("--out", default="runs/train", help="the run's folder (default runs/train)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out (with --steps: extend it to that many)",
    )
    parser.add_argument(
        "--stop-after", type=int, metavar="STEP", help="stop after this step, saved"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_process_flags(parser)
    add_mesh_flags(parser)
    parser.add_argument(
        "--optimizer-over-data",
        action="store_true",
        help="split the optimiser state over the mesh's data axis too (ZeRO-style)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        result = train(
            config,
            args.out,
            resume=args.resume,
            stop_after=args.stop_after,
            mesh=mesh_from(args),
            optimizer_over_data=args.optimizer_over_data,
            progress=not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        raise RunFailure(f"interrupted; {_continue(args)}") from None
    except jax.errors.JaxRuntimeError as error:
        if jax.process_count() == 1:
            raise
        reason = str(error).splitlines()[0]
        raise RunFailure(
            f"a computation across the processes failed, as when one of them stops ({reason}); "
            f"{_continue(args)}, under any number of processes"
        ) from None
    if is_main_process():
        print(f"saved {result.saved}")
    if result.sample is not None:
        print(f"--- a sample (temperature 0.8)\n{result.sample}")
    return 0


def _continue(args: argparse.Namespace) -> str:
    return f"hawkzoo train --resume --out {args.out} continues from the last checkpoint"


def _config(args: argparse.Namespace) -> TrainConfig:
    given = {
        name: getattr(args, name)
        for name in [*FLAGS, "trackers"]
        if getattr(args, name) is not None
    }
    if args.resume:
        if set(given) - {"steps"} or args.set or args.config:
            raise InputError(
                "--resume takes the run's settings from its checkpoint; give only --out, "
                "and --steps to extend it"
            )
        return saved_config(args.out).replace(**given)
    fields = load_config(args.config) if args.config else {}
    return make_config(apply_overrides(fields | given, args.set))
