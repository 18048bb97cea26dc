"""`hawkzoo export`: write a model in the formats other implementations load."""

import argparse

from ..checkpoints import FORMATS, export
from ..checkpoints._staging import absent, tokenizer_file
from ._model import add_flags as add_model_flags, model_from, tokenizer_beside


def add_to(commands) -> None:
    parser = commands.add_parser(
        "export",
        help="write a model for transformers or the official code",
        description="Write a preset or a checkpoint as "
        + "; ".join(f"{name}: {what}" for name, what in FORMATS.items())
        + ".",
    )
    add_model_flags(parser)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="the folder to write (must not exist)")
    parser.add_argument(
        "--tokenizer",
        help="a SentencePiece model file to include (default: the checkpoint's tokenizer.model)",
    )
    parser.add_argument(
        "--adapt",
        action="store_true",
        help="hf: write equivalent arrays where transformers cannot hold the model as it is",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    absent(args.out)  # before the model is made
    tokenizer = tokenizer_file(args.tokenizer) or tokenizer_beside(args)
    folder = export(args.out, model_from(args), args.format, tokenizer=tokenizer, adapt=args.adapt)
    print(f"wrote {folder} ({FORMATS[args.format]})")
    return 0
