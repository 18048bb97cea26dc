"""`hawkzoo eval`: a trained model against baselines, by position and by length."""

import argparse
import itertools
import json
import math
import pathlib

import jax

from .. import backends
from .._checks import integer, optional
from ..checkpoints import load, tokenizer_beside
from ..checkpoints._managed import is_step, latest_step, read_record
from ..data import gzip_bits_per_byte, load_corpus, ngram_bits_per_byte
from ..errors import CheckpointError, InputError
from ..tokenizers import ByteTokenizer, SentencePieceTokenizer
from ..training import accuracy, bits_per_byte, held_out_rows, loss_by_position
from ..training._config import make_config
from ..training._plots import line_plot
from ._backend import add_flag as add_backend_flag


def add_to(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate a trained model",
        description="Text: held-out bits per byte beside byte n-gram and gzip baselines, and "
        "loss against position on long held-out documents. A task: accuracy against length, "
        "up to 16 times the training length.",
    )
    parser.add_argument("folder", metavar="RUN", help="a training run's folder or its checkpoint")
    parser.add_argument("--out", help="where to write eval.json and plots (default: the run)")
    parser.add_argument(
        "--lengths",
        help="task lengths, as multiples of the training length (default 1,2,4,8,16)",
    )
    parser.add_argument("--rows", type=int, default=64, help="task rows per length")
    parser.add_argument(
        "--position-length", type=int, help="tokens of each long document (8 x seq_len)"
    )
    add_backend_flag(parser, "the run's own")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    integer(1).check("--rows", args.rows)
    optional(integer(2)).check("--position-length", args.position_length)
    factors = _factors(args.lengths or "1,2,4,8,16")
    folder = pathlib.Path(args.folder).absolute()
    checkpoint = folder if is_step(folder) else latest_step(folder)
    if checkpoint is None:
        raise CheckpointError(f"{folder} is neither a run folder with a checkpoint nor a step")
    record = read_record(checkpoint)
    config = make_config(record["config"])
    if config.task is None and args.lengths is not None:
        raise InputError("--lengths is for task runs; this run trained on text")
    with backends.use(args.backend or config.backend):
        model = load(checkpoint)
        out = pathlib.Path(args.out) if args.out else checkpoint.parent.parent
        out.mkdir(parents=True, exist_ok=True)
        print(f"{checkpoint}: {config.preset} at step {record['step']}")
        task = config.make_task()
        if task is None:
            report = _text(model, config, record, args, checkpoint, out)
        else:
            report = _task(model, config, task, factors, args.rows, out)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'eval.json'}")
    return 0


def _text(model, config, record, args, checkpoint: pathlib.Path, out: pathlib.Path) -> dict:
    corpus = load_corpus(config.data)
    saved = record.get("corpus") or {}
    if saved.get("sha256") != corpus.sha256:
        raise InputError(
            f"the corpus differs from the one the model trained on (sha256 "
            f"{str(saved.get('sha256'))[:12]} then, {corpus.sha256[:12]} now)"
        )
    size = sum(len(document.data) for document in corpus.held_out)
    kept = tokenizer_beside(checkpoint)  # the run's, where its config's path may be gone
    tokenizer = ByteTokenizer() if kept is None else SentencePieceTokenizer(kept)
    rows = held_out_rows(corpus.held_out, config.row_length, tokenizer)
    scores = {
        "model": bits_per_byte(model, rows, tokenizer),
        "order-2 byte n-gram": ngram_bits_per_byte(corpus.train, corpus.held_out, 2),
        "order-3 byte n-gram": ngram_bits_per_byte(corpus.train, corpus.held_out, 3),
        "gzip -9": gzip_bits_per_byte(corpus.held_out),
    }
    print(f"held-out bits per byte ({corpus.describe()}; held out: {size:,} bytes)")
    for name, value in scores.items():
        print(f"  {name:<20} {value:.3f}")
    report = {
        "step": record["step"],
        "corpus": {"name": corpus.name, "sha256": corpus.sha256, "held_out_bytes": size},
        "bits_per_byte": scores,
    }
    if kept is not None:
        print("(loss by position is measured for byte-level models only)")
        return report
    length = args.position_length or 8 * config.row_length
    bits = loss_by_position(model, corpus.held_out, length) / math.log(2)
    edges = [2**i for i in range(int(math.log2(length)) + 1)] + [length]
    bins = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
    by_bin = [float(bits[a - 1 : b - 1].mean()) for a, b in bins]
    count = sum(len(d.data) > length for d in corpus.held_out)
    print(f"bits per byte by position, {count} held-out documents of over {length} bytes")
    for (a, b), value in zip(bins, by_bin, strict=True):
        print(f"  {a:>6}-{b - 1:<6} {value:.3f}")
    line_plot(
        out / "loss-by-position.png",
        {"model": ([math.sqrt(a * b) for a, b in bins], by_bin)},
        xlabel="position in document (bytes)",
        ylabel="bits per byte",
        logx=True,
    )
    return report | {"by_position": {"bins": bins, "bits_per_byte": by_bin, "documents": count}}


def _task(model, config, task, factors: list[int], rows: int, out: pathlib.Path) -> dict:
    lengths = [factor * config.row_length for factor in factors]
    key = jax.random.key(config.seed + 2)  # neither a training nor a validation key
    scores = [accuracy(model, task, jax.random.fold_in(key, n), rows, n) for n in lengths]
    print(f"{task.name} accuracy, {rows} rows per length (trained at {config.row_length})")
    for n, score in zip(lengths, scores, strict=True):
        print(f"  {n:>7} {score:.3f}")
    line_plot(
        out / "accuracy-by-length.png",
        {config.preset: (lengths, scores)},
        xlabel="sequence length",
        ylabel="accuracy",
        logx=True,
    )
    return {"task": task.name, "lengths": lengths, "accuracy": scores, "rows": rows}


def _factors(lengths: str) -> list[int]:
    """`--lengths`: positive integers, comma-separated."""
    try:
        factors = [int(factor) for factor in lengths.split(",")]
    except ValueError:
        factors = []
    if not factors or min(factors) < 1:
        raise InputError(f"--lengths must be positive integers, comma-separated; got {lengths!r}")
    return factors
