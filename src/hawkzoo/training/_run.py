"""`train`: a whole run, from a config to a checkpoint, metrics, a plot and a sample."""

import contextlib
import dataclasses
import json
import math
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
import tqdm
from jax.sharding import Mesh

from .. import backends
from ..data import AbstractTask, Batch, Corpus, PackedText, load_corpus
from ..model import LanguageModel
from ..sampling import generate
from ..sharding import batch_sharding, model_shardings, optimizer_shardings
from ..tokenizers import ByteTokenizer
from ._checkpoint import RunState, load_run, read_record, save_run
from ._config import TrainConfig
from ._evaluation import accuracy, bits_per_byte, held_out_rows
from ._optimizer import learning_rate_schedule, optimizer
from ._plots import line_plot
from ._step import train_step

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a finished (or stopped) run reports."""

    step: int
    loss: float
    evaluation: dict[str, float]
    sample: str | None
    folder: pathlib.Path


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
) -> RunResult:
    """Train as `config` says, writing to the folder `out`.

    `out` gets `checkpoint/` (a hawkzoo checkpoint with the optimiser state, step, key,
    config and corpus hash), `metrics.jsonl`, `loss.png` and, for text, `sample.txt`.
    `resume=True` continues the run saved in `out`, bitwise as if it had not stopped
    (same machine, JAX version, flags and mesh); `stop_after` stops after that step, saved.

    `mesh` (see [`make_mesh`][hawkzoo.sharding.make_mesh]) trains on its devices: the
    model and optimiser state split by [`hawkzoo.sharding`](../api/sharding.md)'s rules
    (`optimizer_over_data=True`: the optimiser state over the `data` axis too), batches
    over `data` and `seq`. A run saved on one mesh resumes on another, or on one device.
    """
    out = pathlib.Path(out)
    checkpoint = out / CHECKPOINT
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be a step, 1 or more; got {stop_after}")
    saved = read_record(checkpoint) if resume else None
    if saved is not None:
        if saved["config"] != json.loads(json.dumps(config.to_dict())):
            raise ValueError(f"{checkpoint} was saved by another config; resume with its own")
    elif (out / METRICS).exists() or checkpoint.exists():
        raise FileExistsError(
            f"{out} holds a run; continue it with --resume or choose another --out"
        )
    data = _Data(config)
    log(f"data: {data.description}")
    model_key, data_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
    model = LanguageModel(config.model_config(), key=model_key)
    tx = optimizer(config)
    state = RunState(model, tx.init(eqx.filter(model, eqx.is_inexact_array)), 0, data_key)
    if saved is not None:
        state = load_run(checkpoint, state.opt_state)
        _check_corpus(saved, data.corpus)
        _truncate_metrics(out / METRICS, state.step)
        log(f"resumed from step {state.step}")
    placement = batch_placement = None
    if mesh is not None:
        batch_placement = batch_sharding(mesh, data.batch_shape)
        model_placement = model_shardings(state.model, mesh)
        placement = (
            model_placement,
            optimizer_shardings(
                tx, state.opt_state, model_placement, over_data=optimizer_over_data
            ),
        )
        state = state._replace(
            model=jax.device_put(state.model, placement[0]),
            opt_state=jax.device_put(state.opt_state, placement[1]),
        )
        devices = mesh.devices.flat
        log(f"mesh: {dict(mesh.shape)}, {len(devices)} {devices[0].platform} devices")
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": config.to_dict(), "corpus": data.corpus_record(), "versions": _versions()}

    def save(state: RunState) -> None:
        rows = state.step * config.batch_size
        try:
            save_run(checkpoint, state, record | {"data_position": {"rows": rows}})
        except OSError as error:
            kept = read_record(checkpoint)["step"] if checkpoint.exists() else None
            raise OSError(
                f"saving step {state.step} failed ({error}); {checkpoint} "
                + ("holds no checkpoint" if kept is None else f"still holds step {kept}")
            ) from error

    last = stop_after if stop_after is not None else config.steps
    last = min(last, config.steps)
    schedule = learning_rate_schedule(config)
    tokens_per_step = config.batch_size * config.row_length
    loss = math.nan
    with (
        backends.use(config.backend) if config.backend else contextlib.nullcontext(),
        jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext(),
        (out / METRICS).open("a") as metrics,
    ):
        progress_bar = tqdm.tqdm(total=config.steps, initial=state.step, disable=not progress)
        with progress_bar as bar:
            logged = (state.step, time.perf_counter())
            while state.step < last:
                batch = data.train_batch(state.key, state.step)
                if batch_placement is not None:
                    batch = jax.device_put(batch, batch_placement)
                model, opt_state, step_metrics = train_step(
                    tx, state.model, state.opt_state, batch, placement=placement
                )
                loss = step_metrics["loss"].item()
                _stop_if_diverged(loss, state.step + 1, checkpoint)
                state = RunState(model, opt_state, state.step + 1, state.key)
                bar.update()
                if state.step % config.log_every == 0 or state.step == last:
                    now = time.perf_counter()
                    rate = tokens_per_step * (state.step - logged[0]) / (now - logged[1])
                    entry = {
                        "step": state.step,
                        "loss": loss,
                        "grad_norm": step_metrics["grad_norm"].item(),
                        "learning_rate": schedule(state.step - 1).item(),
                        "tokens_per_s": rate,
                    }
                    bar.set_postfix(loss=f"{loss:.3f}", tokens_per_s=f"{entry['tokens_per_s']:.0f}")
                    _write(metrics, entry)
                    logged = (state.step, now)
                if state.step % config.eval_every == 0 and state.step < last:
                    evaluation = data.evaluate(state.model, quick=True)
                    _write(metrics, {"step": state.step} | evaluation)
                    log(f"step {state.step}: loss {loss:.4f}, {_describe(evaluation)}")
                if state.step % config.checkpoint_every == 0 or state.step == last:
                    save(state)
        evaluation = data.evaluate(state.model, quick=False)
        _write(metrics, {"step": state.step, "final": True} | evaluation)
        log(f"step {state.step}: {_describe(evaluation)}")
    sample = None  # outside the mesh: a prompt need not split over its sequence axis
    if data.task is None and state.step == config.steps and config.sample_tokens:
        sample = _sample(state.model, config, sample_key)
        (out / "sample.txt").write_text(sample)
    _plot(out)
    return RunResult(state.step, loss, evaluation, sample, out)


class _Data:
    """The run's training batches and evaluation, for text or a task."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.task: AbstractTask | None = config.make_task()
        self.corpus: Corpus | None = None
        if self.task is None:
            self.corpus = load_corpus(config.data)
            self.text = PackedText(self.corpus.train, config.row_length, config.seed)
            self.held_out = held_out_rows(self.corpus.held_out, config.row_length)
            self.description = self.corpus.describe()
        else:
            fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.task).items())
            self.description = f"{self.task.name} ({fields}), rows of {config.row_length}"

    def corpus_record(self) -> dict[str, Any] | None:
        if self.corpus is None:
            return None
        return {"name": self.corpus.name, "sha256": self.corpus.sha256}

    def train_batch(self, key: jax.Array, step: int) -> Batch:
        config = self.config
        if self.task is None:
            batch = self.text.batch(step, config.batch_size)
        else:
            batch = self.task.batch(
                jax.random.fold_in(key, step), config.batch_size, config.row_length
            )
        return Batch(*(np.asarray(array).reshape(self.batch_shape) for array in batch))

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
            return {"held_out_bits_per_byte": bits_per_byte(model, held_out)}
        key = jax.random.key(self.config.seed + 1)  # never a training key
        return {"accuracy": accuracy(model, self.task, key, rows, self.config.row_length)}


def _stop_if_diverged(loss: float, step: int, checkpoint: pathlib.Path) -> None:
    if not math.isfinite(loss):
        kept = f"step {read_record(checkpoint)['step']}" if checkpoint.exists() else "none"
        raise FloatingPointError(
            f"the loss is {loss} at step {step}; stopped "
            f"(the last good checkpoint, {checkpoint}: {kept})"
        )


def _check_corpus(record: dict[str, Any], corpus: Corpus | None) -> None:
    saved = record.get("corpus")
    if corpus is not None and saved is not None and saved["sha256"] != corpus.sha256:
        raise ValueError(
            f"the corpus changed since the checkpoint: sha256 {saved['sha256'][:12]} then, "
            f"{corpus.sha256[:12]} now"
        )


def _truncate_metrics(path: pathlib.Path, step: int) -> None:
    """Drop what a stopped run logged after its checkpoint, and its final evaluation."""
    if not path.exists():
        return
    entries = [(line, json.loads(line)) for line in path.read_text().splitlines()]
    lines = [line for line, entry in entries if entry["step"] <= step and "final" not in entry]
    path.write_text("".join(line + "\n" for line in lines))


def _write(file, entry: dict[str, Any]) -> None:
    file.write(json.dumps(entry) + "\n")
    file.flush()


def _describe(evaluation: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in evaluation.items())


def _versions() -> dict[str, str]:
    return {
        "jax": jax.__version__,
        "python": platform.python_version(),
        "devices": str(jax.devices()),
    }


def _sample(model: LanguageModel, config: TrainConfig, key: jax.Array) -> str:
    tokenizer = ByteTokenizer()
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


def _plot(out: pathlib.Path) -> None:
    entries = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
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
