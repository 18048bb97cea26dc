"""`hawkzoo sample`: continue prompts with a preset or a checkpoint."""

import argparse
import contextlib
import pathlib
import sys

import jax
import numpy as np

from .. import backends
from .._checks import integer
from ..distributed import is_main_process
from ..errors import InputError
from ..model import LanguageModel
from ..sampling import TokenChoice, complete
from ..sharding import DATA, MODEL, shard_model
from ..tokenizers import ByteTokenizer, SentencePieceTokenizer, Tokenizer, instruction_prompt
from ._backend import add_flag as add_backend_flag
from ._mesh import add_flags as add_mesh_flags, mesh_from
from ._model import add_flags as add_model_flags, draft_from, model_from, tokenizer_beside
from ._processes import add_flags as add_process_flags

BYTE_LEVEL_VOCABULARY = 1024
"""The most token ids a model read as bytes by default may have (the tiny presets' 512)."""
SAMPLING_AXES = (DATA, MODEL)
"""Sampling splits rows and channels; prompts of any length are not split in time."""


def add_to(commands) -> None:
    parser = commands.add_parser(
        "sample",
        help="continue prompts with a model",
        description="Continue prompts with a preset (random weights unless --checkpoint is "
        "given) or a checkpoint folder, printing each completion.",
    )
    add_model_flags(parser)
    parser.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    parser.add_argument("--prompts-file", help="a file of prompts, one per line")
    parser.add_argument(
        "--tokenizer",
        help="'bytes' (built in) or a SentencePiece model file (default: the checkpoint's "
        "tokenizer.model, else bytes)",
    )
    parser.add_argument("--instruction", action="store_true", help="use the chat template")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-length", type=int, help="most tokens per row, prompt included")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 for greedy")
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--stop", type=int, action="append", help="a stop token id (repeatable)")
    parser.add_argument("--stream", action="store_true", help="print tokens as they come")
    parser.add_argument(
        "--draft",
        help="a smaller model's checkpoint or run folder (same vocabulary): speculative "
        "decoding, the same tokens faster",
    )
    parser.add_argument("--draft-tokens", type=int, default=4, help="draft tokens a round")
    add_process_flags(parser)
    add_mesh_flags(parser, SAMPLING_AXES)
    add_backend_flag(parser, "auto")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    TokenChoice(args.temperature, args.top_k, args.top_p)  # checked before any work
    integer(1).check("--max-new-tokens", args.max_new_tokens)
    texts = list(args.prompt)
    if args.prompts_file:
        lines = pathlib.Path(args.prompts_file).read_text().splitlines()
        texts += [line for line in lines if line.strip()]
    if not texts:
        raise InputError("give a prompt with --prompt or --prompts-file")
    if args.draft is not None:
        integer(1).check("--draft-tokens", args.draft_tokens)
        if args.stream:
            raise InputError("--stream does not go with --draft: drafted tokens come in rounds")
    backend = backends.use(args.backend)
    mesh = mesh_from(args, SAMPLING_AXES)
    if args.stream and jax.process_count() > 1:
        raise InputError("--stream runs in one process: several print once, at the end")
    model = model_from(args)
    draft = None if args.draft is None else draft_from(args.draft)
    tokenizer = _tokenizer(args.tokenizer or tokenizer_beside(args), model)
    if args.instruction:
        texts = [instruction_prompt(text) for text in texts]
    printer = _StreamPrinter(tokenizer, texts) if args.stream else None
    with backend, jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext():
        if mesh is not None:
            model = shard_model(model, mesh)
            draft = None if draft is None else shard_model(draft, mesh)
        completions = complete(
            model,
            tokenizer,
            texts,
            max_new_tokens=args.max_new_tokens,
            max_length=args.max_length,
            key=jax.random.key(args.seed),
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            stop_tokens=args.stop,
            on_token=printer,
            draft=draft,
            draft_tokens=args.draft_tokens,
        )
    if printer is not None:
        printer.finish()
    elif is_main_process():
        for text, completion in zip(texts, completions, strict=True):
            print(printable(text + completion.text))
    return 0


def _tokenizer(name: str | pathlib.Path | None, model: LanguageModel) -> Tokenizer:
    """The tokenizer `name`s; None: bytes, for a byte-level model only."""
    if name is None and model.config.vocab_size > BYTE_LEVEL_VOCABULARY:
        raise InputError(
            f"the model has {model.config.vocab_size:,} token ids and no tokenizer.model "
            "beside it: give its SentencePiece model with --tokenizer (or --tokenizer bytes)"
        )
    tokenizer = ByteTokenizer() if name in (None, "bytes") else SentencePieceTokenizer(name)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise InputError(
            f"the tokenizer has {tokenizer.vocab_size} ids, the model's vocabulary "
            f"{model.config.vocab_size}"
        )
    return tokenizer


def printable(text: str) -> str:
    """`text` with control characters other than newlines and tabs escaped (`\\x1b`)."""
    return "".join(
        c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode() for c in text
    )


class _StreamPrinter:
    """Prints each row's new text as its tokens arrive, through `printable`: one prompt
    inline after it; several a line at a time, each line (prompt included) after its
    row's number once it is complete, and the rest at the end."""

    def __init__(self, tokenizer: Tokenizer, texts: list[str]):
        self.tokenizer = tokenizer
        self.ids: list[list[int]] = [[] for _ in texts]
        self.decoded = [0] * len(texts)  # characters of each row's new text passed on
        self.pending = list(texts)  # several rows: each one's unfinished line
        if len(texts) == 1:
            sys.stdout.write(printable(texts[0]))

    def __call__(self, step: int, tokens: np.ndarray, active: np.ndarray) -> None:
        for row, (token, is_active) in enumerate(
            zip(tokens.tolist(), active.tolist(), strict=True)
        ):
            if is_active:
                self.ids[row].append(token)
                self._take(row, self.tokenizer.decode(self.ids[row]).rstrip("\ufffd"))
        sys.stdout.flush()

    def finish(self) -> None:
        """Write what was held back: an incomplete character, unfinished lines."""
        for row, ids in enumerate(self.ids):
            self._take(row, self.tokenizer.decode(ids))
            if len(self.ids) > 1 and self.pending[row]:
                sys.stdout.write(f"[{row}] {printable(self.pending[row])}\n")
        if len(self.ids) == 1:
            sys.stdout.write("\n")
        sys.stdout.flush()

    def _take(self, row: int, text: str) -> None:
        piece, self.decoded[row] = text[self.decoded[row] :], len(text)
        if len(self.ids) == 1:
            sys.stdout.write(printable(piece))
            return
        *lines, self.pending[row] = (self.pending[row] + piece).split("\n")
        for line in lines:
            sys.stdout.write(f"[{row}] {printable(line)}\n")
