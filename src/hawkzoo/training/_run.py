"""`train`: a whole run, from a config to a checkpoint, metrics, a plot and a sample."""

import contextlib
import dataclasses
import json
import math
import pathlib
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
import optax
import tqdm
from jax.sharding import Mesh, NamedSharding

from .. import backends
from .._checks import integer, optional
from ..checkpoints._load import RUN_CHECKPOINT, load
from ..checkpoints._managed import STEPS_FOLDER, latest_step, read_record
from ..checkpoints._staging import TOKENIZER_FILE
from ..data import AbstractTask, Batch, Corpus, PackedText, load_corpus
from ..distributed import (
    Block,
    barrier,
    from_process_blocks,
    gathered,
    is_main_process,
    placed,
    process_block,
)
from ..errors import CheckpointError, ExistingPathError, InputError, MissingPathError, RunFailure
from ..model import LanguageModel, cast
from ..sampling import generate
from ..sharding import batch_sharding, model_shardings, optimizer_shardings
from ..tokenizers import Tokenizer
from ._checkpoint import RunCheckpoints, RunState
from ._config import TrainConfig, make_config
from ._evaluation import accuracy, bits_per_byte, held_out_rows
from ._optimizer import learning_rate_schedule, optimizer
from ._plots import line_plot
from ._step import train_step
from ._trackers import Callback, Tracker, open_trackers

METRICS = "metrics.jsonl"
SETTINGS = "run.json"
"""A run's record (config, corpus, versions), written before its first step: what
`--resume` starts from when a run was stopped before its first checkpoint."""


WHOLE_BATCH: Block = (slice(None),) * 3
"""All of a batch: what one process alone builds."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a finished (or stopped) run reports."""

    step: int
    loss: float
    evaluation: dict[str, float]
    sample: str | None
    folder: pathlib.Path
    saved: pathlib.Path | None
    """The newest step's checkpoint folder."""


def train(
    config: TrainConfig,
    out: str | pathlib.Path,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    mesh: Mesh | None = None,
    optimizer_over_data: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train as `config` says, writing to the folder `out`.

    `out` gets `run.json` (the config, the corpus hash and versions), `checkpoints/` (one
    folder per saved step, see [`RunCheckpoints`][hawkzoo.training.RunCheckpoints]), the
    SentencePiece `tokenizer.model` if the text has one,
    `metrics.jsonl`, `loss.png` and, for text, `sample.txt`. `resume=True` continues the
    run in `out` (see [`saved_config`][hawkzoo.training.saved_config]) from its last
    checkpoint, or from step 0 if it stopped before one, bitwise as if it had not stopped
    (same machine, JAX version, flags and mesh); `stop_after` stops after that step, saved.

    `mesh` (see [`make_mesh`][hawkzoo.sharding.make_mesh]) trains on its devices: the
    model and optimiser state split by [`hawkzoo.sharding`](../api/sharding.md)'s rules
    (`optimizer_over_data=True`: the optimiser state over the `data` axis too), batches
    over `data` and `seq`. A run saved on one mesh resumes on another, or on one device.

    `config.backend` is the scan backend of every model call: the steps, the evaluations
    and the final sample. `progress` shows a progress bar; without one, `log` gets a line
    of metrics every `config.log_every` steps. Each metrics entry goes to
    `metrics.jsonl`, to the trackers `config.trackers` names, and to each of `callbacks`
    (see [`Callback`][hawkzoo.training.Callback]).
    """
    optional(integer(1)).check("stop_after", stop_after)
    if jax.process_count() > 1 and mesh is None:
        raise InputError("several processes train on one mesh over all their devices: give one")
    if not is_main_process():  # process 0 alone speaks and writes
        log, progress = _say_nothing, False
    last = min(stop_after if stop_after is not None else config.steps, config.steps)
    run, state, sample_key = _start(config, pathlib.Path(out), resume, log, callbacks)
    if mesh is not None:
        run, state = _on_mesh(run, state, mesh, optimizer_over_data, log)
    with contextlib.closing(run), backends.use(config.backend):
        with jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext():
            state, loss = _loop(run, state, last, progress, log)
            evaluation = run.data.evaluate(state.model, quick=False)
        run.write_metrics({"step": state.step, "final": True} | evaluation)
        log(f"step {state.step}: {_describe(evaluation)}")
        sample = None  # outside the mesh: a prompt need not split over its sequence axis
        if run.data.task is None and state.step == config.steps and config.sample_tokens:
            model = gathered(state.model)
            if is_main_process():
                sample = _sample(model, run.data.tokenizer, config, sample_key)
                (run.out / "sample.txt").write_text(sample)
    if is_main_process():
        _plot(run.out)
    barrier("hawkzoo: run finished")  # the others wait for process 0's sample and plot
    saved = run.checkpoints.latest()
    saved = None if saved is None else run.checkpoints.folder / str(saved)
    return RunResult(state.step, loss, evaluation, sample, run.out, saved)


@dataclasses.dataclass(frozen=True)
class _Run:
    """What a run holds fixed from its start: where it writes, its data and optimiser,
    and where its arrays live."""

    config: TrainConfig
    out: pathlib.Path
    data: "_Data"
    tx: optax.GradientTransformation
    record: dict[str, Any]
    checkpoints: RunCheckpoints
    trackers: tuple[Tracker, ...] = ()
    callbacks: tuple[Callback, ...] = ()
    placement: tuple[Any, Any] | None = None
    batch_placement: NamedSharding | None = None
    batch_block: Block = WHOLE_BATCH
    """The part of each batch this process builds and feeds."""

    def save(self, state: RunState) -> None:
        rows = state.step * self.config.batch_size
        try:
            self.checkpoints.save(state, self.record | {"data_position": {"rows": rows}})
        except OSError as error:
            raise RunFailure(
                f"saving step {state.step} failed ({error}); {self._kept()}"
            ) from error

    def stop_if_diverged(self, loss: float, step: int) -> None:
        if not math.isfinite(loss):
            raise RunFailure(f"the loss is {loss} at step {step}; stopped ({self._kept()})")

    def _kept(self) -> str:
        """Which step the run's last good checkpoint is."""
        latest = self.checkpoints.latest()
        where = self.checkpoints.folder
        if latest is None:
            return f"{where} holds no step"
        return f"the last good checkpoint is step {latest}, {where / str(latest)}"

    def write_metrics(self, entry: dict[str, Any]) -> None:
        if not is_main_process():
            return
        with (self.out / METRICS).open("a") as file:
            file.write(json.dumps(entry) + "\n")
        for callback in (*self.trackers, *self.callbacks):
            callback(entry)

    def close(self) -> None:
        self.checkpoints.close()
        for tracker in self.trackers:
            tracker.close()


def _start(
    config: TrainConfig,
    out: pathlib.Path,
    resume: bool,
    log: Callable[[str], None],
    callbacks: Sequence[Callback],
) -> tuple[_Run, RunState, jax.Array]:
    """A fresh run's state, or the saved one of the run in `out` when `resume` (from
    step 0 if it stopped before its first checkpoint), with more steps if `config` has
    them. The checkpoint is read before the data, so a damaged one is reported before
    any work."""
    latest, saved, extended = latest_step(out), None, False
    if resume:
        previous = saved_config(out)
        if _as_json(previous.replace(steps=config.steps)) != _as_json(config):
            raise InputError(
                f"the run in {out} has another config; resume with its own (or its own "
                "with more steps, to extend it)"
            )
        saved = read_record(latest) if latest is not None else _read_json(out / SETTINGS)
        extended = config.steps != previous.steps
    elif any((out / name).exists() for name in (SETTINGS, METRICS, STEPS_FOLDER, RUN_CHECKPOINT)):
        raise ExistingPathError(
            f"{out} holds a run; continue it with --resume or choose another --out"
        )
    model_key, data_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
    model = _initial_model(config, model_key)
    tx = optimizer(config)
    state = RunState(model, tx.init(eqx.filter(model, eqx.is_inexact_array)), 0, data_key)
    checkpoints = None
    if resume and latest is not None:
        checkpoints = RunCheckpoints(
            out, keep=config.keep_checkpoints, async_saves=config.async_checkpoints
        )
        state = checkpoints.restore(state.opt_state)
    if state.step > config.steps:
        raise InputError(f"the run in {out} is at step {state.step}, past steps={config.steps}")
    data = _Data(config)
    log(f"data: {data.description}")
    record = {"config": config.to_dict(), "corpus": data.corpus_record(), "versions": _versions()}
    main = is_main_process()
    if saved is not None:
        _check_corpus(saved, data.corpus)
        if main:
            _truncate_metrics(out / METRICS, state.step, log)
        log(f"resumed from step {state.step}" if state.step else "no checkpoint yet: from step 0")
    if extended:
        log(f"extended to {config.steps} steps")
    if main and (saved is None or extended):
        out.mkdir(parents=True, exist_ok=True)
        _write_atomically(out / SETTINGS, json.dumps(record, indent=2) + "\n")
    tokenizer = config.tokenizer_path()
    if main and tokenizer is not None and not (out / TOKENIZER_FILE).exists():
        _write_atomically(out / TOKENIZER_FILE, pathlib.Path(tokenizer).read_bytes())
    barrier("hawkzoo: run folder written")
    checkpoints = checkpoints or RunCheckpoints(
        out, keep=config.keep_checkpoints, async_saves=config.async_checkpoints
    )
    trackers = tuple(open_trackers(config.trackers, out, record)) if main else ()
    run = _Run(config, out, data, tx, record, checkpoints, trackers, tuple(callbacks))
    return run, state, sample_key


def _initial_model(config: TrainConfig, key: jax.Array) -> LanguageModel:
    """Random weights, or those of `config.initialize_from`."""
    model_config = config.model_config()
    if config.initialize_from is None:
        return LanguageModel(model_config, key=key)
    path = config.initialize_from
    try:
        return cast(load(path, model_config), model_config.param_dtype)
    except InputError as error:
        raise InputError(f"initialize_from {path}: {error}") from None


def saved_config(out: str | pathlib.Path) -> TrainConfig:
    """The config of the run in the folder `out` (its `run.json`), to resume it."""
    out = pathlib.Path(out)
    if (out / RUN_CHECKPOINT).is_dir() and not (out / STEPS_FOLDER).is_dir():
        raise InputError(
            f"the run in {out} was saved by an earlier hawkzoo, which --resume cannot "
            f"continue; --initialize-from {out} starts a new run from its weights"
        )
    if not (out / SETTINGS).is_file():
        raise MissingPathError(f"no run to resume in {out} (no {SETTINGS})")
    return make_config(_read_json(out / SETTINGS)["config"])


def _on_mesh(
    run: _Run, state: RunState, mesh: Mesh, optimizer_over_data: bool, log: Callable[[str], None]
) -> tuple[_Run, RunState]:
    """The run with its model, optimiser state and batches placed on `mesh`."""
    model_placement = model_shardings(state.model, mesh)
    opt_placement = optimizer_shardings(
        run.tx, state.opt_state, model_placement, over_data=optimizer_over_data
    )
    state = state._replace(
        model=placed(state.model, model_placement),
        opt_state=placed(state.opt_state, opt_placement),
    )
    devices = mesh.devices.flat
    log(f"mesh: {dict(mesh.shape)}, {len(devices)} {devices[0].platform} devices")
    batches = batch_sharding(mesh, run.data.batch_shape)
    run = dataclasses.replace(
        run,
        placement=(model_placement, opt_placement),
        batch_placement=batches,
        batch_block=process_block(batches, run.data.batch_shape),
    )
    return run, state


def _loop(
    run: _Run, state: RunState, last: int, progress: bool, log: Callable[[str], None]
) -> tuple[RunState, float]:
    """Steps up to `last`, with metrics, evaluations and checkpoints on their schedules."""
    config, loss = run.config, math.nan
    with tqdm.tqdm(total=config.steps, initial=state.step, disable=not progress) as bar:

        def say(line: str) -> None:  # whole lines, the bar redrawn below them
            with bar.external_write_mode():
                log(line)

        meter = _Throughput(state.step, config.batch_size * config.row_length)
        schedule = learning_rate_schedule(config)
        while state.step < last:
            batch = run.data.train_batch(state.key, state.step, run.batch_block)
            if run.batch_placement is not None:
                batch = from_process_blocks(batch, run.batch_placement, run.data.batch_shape)
            model, opt_state, metrics = train_step(
                run.tx, state.model, state.opt_state, batch, placement=run.placement
            )
            loss = metrics["loss"].item()
            run.stop_if_diverged(loss, state.step + 1)
            state = RunState(model, opt_state, state.step + 1, state.key)
            bar.update()
            if state.step % config.log_every == 0 or state.step == last:
                entry = {
                    "step": state.step,
                    "loss": loss,
                    "grad_norm": metrics["grad_norm"].item(),
                    "learning_rate": schedule(state.step - 1).item(),
                    "tokens_per_s": meter.rate(state.step),
                }
                run.write_metrics(entry)
                bar.set_postfix(loss=f"{loss:.3f}", tokens_per_s=f"{entry['tokens_per_s']:.0f}")
                if not progress:
                    say(f"step {state.step}: loss {loss:.4f}, {entry['tokens_per_s']:.0f} tokens/s")
            with meter.paused():  # evaluations and saves are not training time
                if state.step % config.eval_every == 0 and state.step < last:
                    evaluation = run.data.evaluate(state.model, quick=True)
                    run.write_metrics({"step": state.step} | evaluation)
                    say(f"step {state.step}: loss {loss:.4f}, {_describe(evaluation)}")
                if state.step % config.checkpoint_every == 0 or state.step == last:
                    run.save(state)
    return state, loss


class _Throughput:
    """Training tokens a second since the last reading, with paused time left out."""

    def __init__(self, step: int, tokens_per_step: int):
        self.tokens_per_step = tokens_per_step
        self.step, self.since, self.excluded = step, time.perf_counter(), 0.0

    def rate(self, step: int) -> float:
        now = time.perf_counter()
        rate = self.tokens_per_step * (step - self.step) / (now - self.since - self.excluded)
        self.step, self.since, self.excluded = step, now, 0.0
        return rate

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - start


class _Data:
    """The run's training batches and evaluation, for text or a task."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.task: AbstractTask | None = config.make_task()
        self.corpus: Corpus | None = None
        if self.task is None:
            self.corpus = load_corpus(config.data)
            self.tokenizer = config.make_tokenizer()
            length = config.row_length
            self.text = PackedText(self.corpus.train, length, config.seed, self.tokenizer)
            self.held_out = held_out_rows(self.corpus.held_out, length, self.tokenizer)
            self.description = self.corpus.describe()
            if config.tokenizer_path() is not None:
                self.description += f", as {self.tokenizer.vocab_size:,} SentencePiece ids"
        else:
            fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.task).items())
            self.description = f"{self.task.name} ({fields}), rows of {config.row_length}"

    def corpus_record(self) -> dict[str, Any] | None:
        if self.corpus is None:
            return None
        return {"name": self.corpus.name, "sha256": self.corpus.sha256}

    def train_batch(self, key: jax.Array, step: int, block: Block = WHOLE_BATCH) -> Batch:
        """Step `step`'s batch, shaped `batch_shape`, or only its `block` (a process's
        share: text builds those rows alone, a task draws every row and keeps them)."""
        config = self.config
        micro_batches, rows_each, _ = self.batch_shape
        rows = np.arange(config.batch_size).reshape(micro_batches, rows_each)[block[:2]]
        if self.task is None:
            batch = self.text.batch(step, config.batch_size, rows.ravel().tolist())
        else:
            batch = self.task.batch(
                jax.random.fold_in(key, step), config.batch_size, config.row_length
            )
            batch = Batch(*(np.asarray(array)[rows.ravel()] for array in batch))
        return Batch(*(np.asarray(a).reshape(*rows.shape, -1)[..., block[2]] for a in batch))

    @property
    def batch_shape(self) -> tuple[int, int, int]:
        config = self.config
        return (config.accumulate, config.batch_size // config.accumulate, config.row_length)

    def evaluate(self, model: LanguageModel, *, quick: bool) -> dict[str, float]:
        rows = self.config.eval_rows
        if self.task is None:
            held_out = self.held_out
            if quick:  # rows spread over the held-out text
                picked = np.linspace(0, len(held_out.tokens) - 1, rows).astype(int)
                held_out = Batch(*(array[picked] for array in held_out))
            return {"held_out_bits_per_byte": bits_per_byte(model, held_out, self.tokenizer)}
        key = jax.random.key(self.config.seed + 1)  # never a training key
        return {"accuracy": accuracy(model, self.task, key, rows, self.config.row_length)}


def _check_corpus(record: dict[str, Any], corpus: Corpus | None) -> None:
    saved = record.get("corpus")
    if corpus is not None and saved is not None and saved["sha256"] != corpus.sha256:
        raise InputError(
            f"the corpus changed since the checkpoint: sha256 {saved['sha256'][:12]} then, "
            f"{corpus.sha256[:12]} now"
        )


def _truncate_metrics(path: pathlib.Path, step: int, log: Callable[[str], None]) -> None:
    """Drop what a stopped run logged after its checkpoint, and its final evaluation."""
    if not path.exists():
        return
    entries, torn = _read_metrics(path)
    if torn:
        log(f"{path}: dropped a partly written last line")
    kept = [entry for entry in entries if entry["step"] <= step and "final" not in entry]
    _write_atomically(path, "".join(json.dumps(entry) + "\n" for entry in kept))


def _read_metrics(path: pathlib.Path) -> tuple[list[dict[str, Any]], bool]:
    """The entries of `metrics.jsonl`, and whether its last line was cut short (by a
    process killed while writing it)."""
    lines = path.read_text().splitlines()
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                return entries, True
            raise CheckpointError(f"{path}: line {number} is not JSON") from None
    return entries, False


def _as_json(config: TrainConfig) -> Any:
    return json.loads(json.dumps(config.to_dict()))


def _read_json(path: pathlib.Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None


def _write_atomically(path: pathlib.Path, content: str | bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content.encode() if isinstance(content, str) else content)
    partial.replace(path)


def _describe(evaluation: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in evaluation.items())


def _versions() -> dict[str, str]:
    return {
        "jax": jax.__version__,
        "python": platform.python_version(),
        "devices": str(jax.devices()),
    }


def _sample(model: LanguageModel, tokenizer: Tokenizer, config: TrainConfig, key: jax.Array) -> str:
    generation = generate(
        model,
        [tokenizer.encode(config.sample_prompt)],
        max_new_tokens=config.sample_tokens,
        key=key,
        temperature=0.8,
        stop_tokens=tokenizer.stop_ids,
        pad_id=tokenizer.pad_id,
    )
    return config.sample_prompt + tokenizer.decode(generation.rows()[0])


def _say_nothing(line: str) -> None:
    del line


def _plot(out: pathlib.Path) -> None:
    entries, _ = _read_metrics(out / METRICS)
    losses = [e for e in entries if "loss" in e]
    held = [e for e in entries if "held_out_bits_per_byte" in e]
    series = {
        "train (bits per target)": (
            [e["step"] for e in losses],
            [e["loss"] / math.log(2) for e in losses],
        )
    }
    if held:
        series["held-out (bits per byte)"] = (
            [e["step"] for e in held],
            [e["held_out_bits_per_byte"] for e in held],
        )
    line_plot(out / "loss.png", series, xlabel="step", ylabel="bits")
