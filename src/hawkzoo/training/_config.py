"""`TrainConfig`: everything that decides a training run, as data."""

import dataclasses
import os
import pathlib
import tomllib
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from .. import backends
from .._checks import (
    FLAG,
    TABLE,
    Rule,
    check_fields,
    integer,
    is_integer,
    number,
    optional,
    text,
    texts,
)
from ..checkpoints import tokenizer_beside
from ..data import AbstractTask, task
from ..errors import InputError, MissingPathError
from ..model import ModelConfig, preset
from ..tokenizers import ByteTokenizer, SentencePieceTokenizer, Tokenizer
from ._trackers import TRACKERS

TEXT_SEQ_LEN = 256

NO_DECAY = ("embedding", "scale", "bias", "decay_param", "phase_param")
"""Arrays without weight decay by default: embeddings, norm scales, biases, the RG-LRU's Λ
and the CG-LRU's phase."""


@typing.no_type_check  # its own checks name the field, ahead of any type checker
@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run: model, data, optimiser and schedule, and what to report.

    - `preset` and `model`: a preset and fields of its config to change (e.g.
      `{"num_layers": 5, "remat": True, "compute_dtype": "bfloat16"}`).
    - `initialize_from`: start from these weights instead of random ones (fine-tuning):
      any checkpoint [`load`][hawkzoo.checkpoints.load] reads, or a run folder (its
      latest step). They must fit the model `preset` and `model` describe, and are cast to
      its `param_dtype`.
    - `task`: a synthetic task by name (`hawkzoo.data.TASKS`) with `task_options` as its
      fields; None trains on `data`, `"stdlib"` (the built-in corpus) or a text path.
    - `tokenizer`: a SentencePiece model file for text; None for the one kept with
      `initialize_from` (`tokenizer.model`), or else bytes. The run keeps it in its
      folder, and reports bits per byte of the text its tokens stand for.
    - `seq_len`: tokens per row; None for 256 on text, a task's `train_length`.
    - `batch_size` rows per step, as `accumulate` micro-batches of `batch_size /
      accumulate` rows whose gradients are summed.
    - AdamW with `learning_rate` warmed up linearly over `warmup` (a number of steps, or
      a float in [0, 1]: that fraction of `steps`) and decayed by a
      cosine to `final_learning_rate_fraction` of it at `steps`; gradients clipped to a
      global norm of `clip_norm`; no decay on arrays named in `no_decay`.
    - Every `log_every` steps a line of metrics, every `eval_every` an evaluation on
      `eval_rows` rows, every `checkpoint_every` a checkpoint (the newest
      `keep_checkpoints` kept; `async_checkpoints`: saved in the background); at the end
      (text only) a sample of `sample_tokens` (0: none) continuing `sample_prompt`. Metrics go to
      `metrics.jsonl` and to the `trackers` named (`"tensorboard"`, `"wandb"`).
    """

    preset: str = "small-griffin"
    model: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    initialize_from: str | None = None
    task: str | None = None
    task_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: str = "stdlib"
    tokenizer: str | None = None
    seq_len: int | None = None
    steps: int = 1100
    batch_size: int = 16
    accumulate: int = 1
    learning_rate: float = 6e-3
    warmup: int | float = 0.05
    final_learning_rate_fraction: float = 0.0
    b1: float = 0.9
    b2: float = 0.95
    weight_decay: float = 0.1
    no_decay: Sequence[str] = NO_DECAY
    clip_norm: float = 1.0
    seed: int = 0
    backend: str | None = None
    log_every: int = 10
    eval_every: int = 200
    eval_rows: int = 128
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    async_checkpoints: bool = False
    sample_prompt: str = "def "
    sample_tokens: int = 256
    trackers: Sequence[str] = ()

    def __post_init__(self):
        check_fields(self, _RULES)
        object.__setattr__(self, "model", dict(self.model))
        object.__setattr__(self, "task_options", dict(self.task_options))
        object.__setattr__(self, "no_decay", tuple(self.no_decay))
        object.__setattr__(self, "trackers", tuple(self.trackers))
        if self.batch_size % self.accumulate:
            raise InputError(
                f"TrainConfig.accumulate={self.accumulate} must divide batch_size={self.batch_size}"
            )
        optional(text(backends.registered())).check("TrainConfig.backend", self.backend)
        if self.tokenizer is not None and self.task is not None:
            raise InputError("TrainConfig.tokenizer is for text; a task has its own tokens")
        if self.tokenizer is not None and not os.path.isfile(self.tokenizer):
            raise MissingPathError(
                f"TrainConfig.tokenizer: no SentencePiece model at {self.tokenizer}"
            )
        if self.initialize_from is not None and not os.path.exists(self.initialize_from):
            raise MissingPathError(
                f"TrainConfig.initialize_from: no checkpoint at {self.initialize_from}"
            )
        config, task = self.model_config(), self.make_task()  # unknown names fail here
        vocab_size = self.make_tokenizer().vocab_size if task is None else task.vocab_size
        if config.vocab_size < vocab_size:
            raise InputError(
                f"the data has {vocab_size} token ids but the model's vocab_size is "
                f"{config.vocab_size}; set model.vocab_size={vocab_size} or more"
            )
        if task is not None:
            task.check_length(self.row_length)

    @property
    def warmup_steps(self) -> int:
        """The steps of the linear warm-up: `warmup`, or that fraction of `steps`."""
        if isinstance(self.warmup, float):
            return round(self.warmup * self.steps)
        return self.warmup

    @property
    def row_length(self) -> int:
        if self.seq_len is not None:
            return self.seq_len
        task = self.make_task()
        return TEXT_SEQ_LEN if task is None else task.train_length

    def model_config(self) -> ModelConfig:
        try:
            return preset(self.preset, **self.model)
        except TypeError as error:
            raise InputError(f"model: {error}") from None

    def tokenizer_path(self) -> str | None:
        """`tokenizer`, or the one kept with `initialize_from`, or None (bytes)."""
        if self.tokenizer is not None or self.task is not None or self.initialize_from is None:
            return self.tokenizer
        beside = tokenizer_beside(self.initialize_from)
        return None if beside is None else str(beside)

    def make_tokenizer(self) -> Tokenizer:
        """The text's tokenizer (see `tokenizer`)."""
        path = self.tokenizer_path()
        return ByteTokenizer() if path is None else SentencePieceTokenizer(path)

    def make_task(self) -> AbstractTask | None:
        if self.task is None:
            return None
        try:
            return task(self.task, **self.task_options)
        except TypeError as error:
            raise InputError(f"task_options: {error}") from None

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_RULES = {
    "preset": text(),
    "model": TABLE,
    "initialize_from": optional(text()),
    "task": optional(text()),
    "task_options": TABLE,
    "data": text(),
    "tokenizer": optional(text()),
    "seq_len": optional(integer(2)),
    "steps": integer(1),
    "batch_size": integer(1),
    "accumulate": integer(1),
    "learning_rate": number("(0, inf)"),
    "warmup": Rule(
        "a number of steps (an integer ≥ 0) or a fraction of the run (a float in [0, 1])",
        lambda v: (is_integer(v) and v >= 0) or (type(v) is float and 0 <= v <= 1),
    ),
    "final_learning_rate_fraction": number("[0, 1]"),
    "b1": number("[0, 1)"),
    "b2": number("[0, 1)"),
    "weight_decay": number("[0, inf)"),
    "no_decay": texts(),
    "clip_norm": number("(0, inf)"),
    "seed": integer(0, 2**32 - 1),
    "log_every": integer(1),
    "eval_every": integer(1),
    "eval_rows": integer(1),
    "checkpoint_every": integer(1),
    "keep_checkpoints": integer(1),
    "async_checkpoints": FLAG,
    "sample_prompt": text(),
    "sample_tokens": integer(0),
    "trackers": Rule(
        f"a list of tracker names ({', '.join(TRACKERS)}), possibly empty",
        lambda v: isinstance(v, list | tuple) and all(item in TRACKERS for item in v),
    ),
}


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The fields of a TOML config file (its `[model]` and `[task_options]` tables too)."""
    path = pathlib.Path(path)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path} is not valid TOML: {error}") from None


def apply_overrides(fields: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """`fields` with `key=value` overrides applied; a dotted key reaches into a table
    (`model.num_layers=5`), a value is read as TOML (`5`, `true`, `"x"`) or else a string."""
    fields = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in fields.items()
    }
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise InputError(f"an override is key=value, got {override!r}")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        *tables, name = key.split(".")
        target = fields
        for table in tables:
            target = target.setdefault(table, {})
            if not isinstance(target, dict):
                raise InputError(f"{override!r}: {table} is not a table")
        target[name] = value
    return fields


def make_config(fields: Mapping[str, Any]) -> TrainConfig:
    """A `TrainConfig` from fields, with unknown ones named in the error."""
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InputError(
            f"unknown training setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return TrainConfig(**fields)
