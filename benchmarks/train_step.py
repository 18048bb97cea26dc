"""Training step time: hawkzoo beside the official Flax Griffin, and against sequence length.

Two views of one jitted AdamW step (loss, gradients, clipping, update; parameters and
optimiser state donated), both at the 19.3M-parameter config of the decoding benchmark:

- **official**: Griffin (R R A twice, window 256) in hawkzoo and in the official
  `recurrentgemma` Flax model, on the same weights and batch, each with every block
  rematerialised and without (the official model remats by default, hawkzoo does not).
  The first step's losses are compared, so both do the same work.
- **length**: hawkzoo's Hawk, Griffin and MQA Transformer at a fixed number of tokens a
  step, the sequence length growing (the paper's section 4.3 view).

Model FLOP utilisation = (6 x parameters x tokens + attention FLOPs) / step time / the
best rate of a square float32 matmul (512 to 2,048) measured in this process. Attention
FLOPs count the causal, windowed score and value products (4 x heads x head size per
query and key attended, x3 for the backward pass); remat's recomputation is not counted.

    uv run python benchmarks/train_step.py                # small shapes, a few minutes
    uv run python benchmarks/train_step.py --size issue   # the issue's shapes
"""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from _common import BASE, FAMILIES, arguments, environment, interleaved, spread, write_results
from hawkzoo import checkpoints
from hawkzoo.data import Batch
from hawkzoo.model import LanguageModel, ModelConfig, num_parameters
from hawkzoo.training import TrainConfig, optimizer, train_step


@dataclass(frozen=True)
class Size:
    comparison: tuple[int, int]  # (rows, sequence length)
    tokens_per_step: int
    lengths: tuple[int, ...]
    repetitions: int


SIZES = {
    "small": Size((2, 512), tokens_per_step=1024, lengths=(256, 1024), repetitions=2),
    "issue": Size((8, 512), 4096, lengths=(256, 512, 1024, 2048, 4096), repetitions=3),
}
OPTIMIZER = optimizer(TrainConfig(steps=1000))


def batch_of(config: ModelConfig, rows: int, length: int) -> Batch:
    tokens = jax.random.randint(jax.random.key(1), (rows, length + 1), 0, config.vocab_size)
    positions = jnp.broadcast_to(jnp.arange(length), (rows, length))
    return Batch(tokens[:, :-1], positions, tokens[:, 1:], jnp.ones((rows, length), bool))


def ours(model: LanguageModel, batch: Batch) -> Callable[[], float]:
    """hawkzoo's `train_step`; each call takes one step and returns its loss."""
    state = (model, OPTIMIZER.init(model))  # pyright: ignore[reportArgumentType]
    batches = jax.tree.map(lambda x: x[None], batch)

    def step() -> float:
        nonlocal state
        model, opt_state, metrics = train_step(OPTIMIZER, *state, batches)
        state = (model, opt_state)
        return float(metrics["loss"])

    return step


def official(model: LanguageModel, batch: Batch, remat: bool) -> Callable[[], float]:
    """The official Flax Griffin on a copy of `model`'s weights, in the same kind of step."""
    module = checkpoints.official_module(model.config, remat=remat)

    def loss(params, batch: Batch):
        logits, _ = module.apply(
            {"params": params}, batch.tokens, batch.segment_pos, return_cache=False
        )
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
        return -jnp.mean(jnp.take_along_axis(log_probs, batch.targets[..., None], axis=-1))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train(params, opt_state, batch: Batch):
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    params = jax.tree.map(jnp.copy, checkpoints.to_flax(model))
    state = (params, OPTIMIZER.init(params))

    def step() -> float:
        nonlocal state
        params, opt_state, value = train(*state, batch)
        state = (params, opt_state)
        return float(value)

    return step


def matmul_rate(sizes=(512, 1024, 2048), repetitions: int = 9) -> float:
    """The best float32 FLOP/s of an `n x n` by `n x n` matrix product over `sizes`."""
    rates = []
    for n in sizes:
        a = jax.random.normal(jax.random.key(0), (n, n))
        product = jax.jit(jnp.matmul)
        jax.block_until_ready(product(a, a))
        times = []
        for _ in range(repetitions):
            start = time.perf_counter()
            jax.block_until_ready(product(a, a))
            times.append(time.perf_counter() - start)
        rates.append(2 * n**3 / float(np.median(times)))
    return max(rates)


def step_flops(config: ModelConfig, parameters: int, rows: int, length: int) -> float:
    """Model FLOPs of one training step: 6 x parameters x tokens, plus attention's."""
    window = config.attention_window or length
    keys = sum(min(t + 1, window) for t in range(length))  # keys each query attends
    head_dim = config.width // config.num_heads
    attention_layers = config.block_types.count("attention")
    attention = 3 * 4 * config.num_heads * head_dim * keys * rows * attention_layers
    return 6 * parameters * rows * length + attention


def timed(steps: dict[str, Callable[[], float]], repetitions: int) -> dict[str, dict]:
    """Each step's first loss (compile included), then interleaved timed repetitions."""
    first, times = interleaved(steps, repetitions)
    return {name: {"first_loss": first[name], **spread(times[name])} for name in steps}


def _row(config: ModelConfig, parameters: int, rows: int, length: int, rate: float, timing):
    seconds = timing["median_ms"] / 1e3
    flops = step_flops(config, parameters, rows, length)
    return {
        "rows": rows,
        "length": length,
        "parameters": parameters,
        **timing,
        "tokens_per_s": rows * length / seconds,
        "model_flops": flops,
        "mfu": flops / seconds / rate,
    }


def compare(size: Size, rate: float, config: ModelConfig = BASE) -> list[dict]:
    """hawkzoo and the official model, remat on and off, on the same weights and batch."""
    rows, length = size.comparison
    batch = batch_of(config, rows, length)
    steps = {}
    for remat in (False, True):  # each step owns its weights: they are donated
        model = LanguageModel(config.replace(remat=remat), key=jax.random.key(0))
        steps["official", remat] = official(model, batch, remat)
        steps["hawkzoo", remat] = ours(model, batch)
    parameters = num_parameters(model)
    with jax.numpy_rank_promotion("allow"):  # the official code broadcasts by rank
        timings = timed(steps, size.repetitions)
    return [
        {"model": name, "remat": remat, **_row(config, parameters, rows, length, rate, timing)}
        for (name, remat), timing in timings.items()
    ]


def against_length(size: Size, rate: float, families=FAMILIES) -> list[dict]:
    """hawkzoo's step time for each family and length at `size.tokens_per_step`."""
    results = []
    for family, config in families.items():
        for length in size.lengths:
            model = LanguageModel(config, key=jax.random.key(0))  # donated by its steps
            parameters = num_parameters(model)
            rows = max(size.tokens_per_step // length, 1)
            timing = timed({family: ours(model, batch_of(config, rows, length))}, size.repetitions)
            row = _row(config, parameters, rows, length, rate, timing[family])
            results.append({"family": family, **row})
            print(f"measured {family} at length {length}", flush=True)
    return results


def markdown(env: dict, rate: float, comparison: list[dict], lengths: list[dict]) -> str:
    def ms(row: dict) -> str:
        return f"{row['median_ms']:.0f} [{row['p10_ms']:.0f}, {row['p90_ms']:.0f}]"

    rows, length, parameters = (comparison[0][k] for k in ("rows", "length", "parameters"))
    keyed = {(r["model"], r["remat"]): r for r in comparison}
    lines = [
        f"JAX {env['jax']} (jaxlib {env['jaxlib']}), {env['device_kind']} ({env['platform']}), "
        f"{env['cpu_count']} cores; float32 matmul rate {rate / 1e9:.1f} GFLOP/s. "
        "Milliseconds a step: median [p10, p90]; MFU = model FLOPs ÷ step time ÷ matmul rate.",
        "",
        f"Griffin, {parameters / 1e6:.1f}M parameters, batch {rows} × {length}, AdamW:",
        "",
        "| model | remat | ms/step | tokens/s | MFU | first loss | ×official (same remat) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, remat), row in keyed.items():
        speedup = keyed["official", remat]["median_ms"] / row["median_ms"]
        lines.append(
            f"| {name} | {'on' if remat else 'off'} | {ms(row)} | {row['tokens_per_s']:.0f} "
            f"| {row['mfu']:.0%} | {row['first_loss']:.6f} | {speedup:.2f} |"
        )
    default = keyed["official", True]["median_ms"] / keyed["hawkzoo", False]["median_ms"]
    lines += [
        "",
        f"hawkzoo's default (no remat) over the official default (remat): {default:.2f}×.",
        "",
        f"hawkzoo against sequence length, {lengths[0]['rows'] * lengths[0]['length']} "
        "tokens a step:",
        "",
        "| model | parameters | rows × length | ms/step | tokens/s | MFU |",
        "|---|---|---|---|---|---|",
    ]
    for row in lengths:
        lines.append(
            f"| {row['family']} | {row['parameters'] / 1e6:.1f}M | {row['rows']} × {row['length']} "
            f"| {ms(row)} | {row['tokens_per_s']:.0f} | {row['mfu']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def plot(comparison: list[dict], lengths: list[dict], path: Path) -> None:
    """Step time against sequence length, and the side-by-side bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for family in dict.fromkeys(r["family"] for r in lengths):
        rows = [r for r in lengths if r["family"] == family]
        left.plot([r["length"] for r in rows], [r["median_ms"] for r in rows], "-o", label=family)
    left.set_xscale("log", base=2)
    left.set_xlabel("sequence length (tokens a step fixed)")
    left.set_ylabel("ms per step")
    left.set_ylim(bottom=0)
    left.set_title("hawkzoo, against sequence length")
    left.legend()
    labels = [f"{r['model']}\nremat {'on' if r['remat'] else 'off'}" for r in comparison]
    colours = {"hawkzoo": "tab:blue", "official": "tab:gray"}
    right.bar(
        labels,
        [r["median_ms"] for r in comparison],
        color=[colours[r["model"]] for r in comparison],
    )
    right.set_ylabel("ms per step")
    right.set_title("Griffin, hawkzoo and official")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> None:
    args = arguments(__doc__.splitlines()[0], SIZES, argv)
    size = SIZES[args.size]
    env = environment()
    rate = matmul_rate()
    comparison = compare(size, rate)
    lengths = against_length(size, rate)
    table = markdown(env, rate, comparison, lengths)
    print(table)
    stem = f"train-step-{args.size}-{env['platform']}"
    record = {"environment": env, "matmul_flops_per_s": rate, "comparison": comparison}
    record["lengths"] = lengths
    write_results(args.out, stem, record, table, lambda path: plot(comparison, lengths, path))


if __name__ == "__main__":
    main()
