"""Decoding speed against context position: hawkzoo's sampler beside the official one.

For Hawk, Griffin and the MQA baseline at one small config (19.3M parameters, float32),
each sampler decodes `--steps` tokens greedily from a state at context position p, for p
from 128 to 16,384, at batch 1 and 8. Both start from a state of the right size at p
(its contents do not change the work: the same cache slots are read whatever they hold),
on the same weights, timed in interleaved repetitions after a warm-up. The MQA baseline's
cache (and the official model's window standing in for global attention) is sized to
p + steps + 1, so its cost grows with p, as in the paper's Figure 4. Beside them, the
weight-read floor: parameter bytes ÷ the in-place copy bandwidth measured in this process.
Weights: hawkzoo's decoding with the weights in float32, bfloat16 (built so, the compute
in bfloat16 too) and int8 (`quantize`, the compute in float32), beside the official
sampler in float32, at position 128. Prefix caching: requests sharing a long prefix
(Griffin, `PREFIX` bytes of text, then a `QUESTION`-byte question each, `ANSWER` new
tokens greedily), each whole prompt prefilled by the official sampler and by `generate`,
against the prefix prefilled once by `prefill` (timed too) and each question continuing
it; these two are drawn in a second plot (`-rows.png`). Finally, greedy tokens of both
samplers are compared on unpadded prompts.

    uv run python benchmarks/decode.py                 # two positions, batch 1, a few minutes
    uv run python benchmarks/decode.py --size issue    # the issue's grid
"""

import dataclasses
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from recurrentgemma.jax import sampler as official_sampler

from _common import BASE, FAMILIES, arguments, environment, interleaved, spread, write_results
from hawkzoo import checkpoints, quantize
from hawkzoo.model import LanguageModel, ModelConfig, State, num_parameters
from hawkzoo.nn import AttentionState
from hawkzoo.sampling import decode, generate, prefill
from hawkzoo.tokenizers import ByteTokenizer

PROMPTS = ("The quick brown fox", "Once upon a time, there", "def main():", "1, 2, 3, 4, 5,")
PREFIX, QUESTION, ANSWER = 1024, 16, 32


@dataclass(frozen=True)
class Size:
    positions: tuple[int, ...]
    batches: tuple[int, ...]
    steps: int
    repetitions: int


SIZES = {
    "small": Size((128, 2048), (1,), steps=32, repetitions=5),
    "issue": Size((128, 512, 2048, 8192, 16384), (1, 8), steps=32, repetitions=5),
}


def cache_length(config: ModelConfig, position: int, steps: int) -> int | None:
    """Global attention's cache: the position reached after `steps` more tokens."""
    return position + steps + 1 if config.attention_window is None else None


def ours(model: LanguageModel, batch: int, position: int, steps: int) -> Callable[[], None]:
    """hawkzoo's `decode` (the loop `generate` runs) from a state at `position`."""
    length = cache_length(model.config, position, steps)
    state: State = tuple(
        block._replace(num_tokens=jnp.full((batch,), position, jnp.int32))
        if isinstance(block, AttentionState)
        else block
        for block in model.init_state(length, batch_size=batch)
    )
    logits = jnp.zeros((batch, model.config.vocab_size), model.config.dtype("compute"))
    positions = jnp.full((batch,), position - 1, jnp.int32)

    def run() -> None:
        decode(model, state, logits, positions, max_new_tokens=steps, temperature=0.0)

    return run


class _ByteVocab:
    """The official sampler's vocabulary interface over hawkzoo's byte tokenizer."""

    tokenizer = ByteTokenizer()

    def EncodeAsIds(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_bos=False)

    def DecodeIds(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def bos_id(self) -> int:
        return self.tokenizer.bos_id

    def eos_id(self) -> int:
        return self.tokenizer.eos_id

    def pad_id(self) -> int:
        return self.tokenizer.pad_id


def official_sampler_for(model: LanguageModel, window: int) -> official_sampler.Sampler:
    official = checkpoints.official_module(model.config, window=window)
    return official_sampler.Sampler(official, _ByteVocab(), checkpoints.to_flax(model))  # pyright: ignore[reportArgumentType]


def official(model: LanguageModel, batch: int, position: int, steps: int) -> Callable[[], None]:
    """The official `Sampler`'s decoding loop from a state at `position`."""
    window = model.config.attention_window or cache_length(model.config, position, steps)
    sampler = official_sampler_for(model, window)  # pyright: ignore[reportArgumentType]
    cache = {
        name: block._replace(num_tokens=jnp.full((batch,), position, jnp.int32))
        if hasattr(block, "num_tokens")
        else block
        for name, block in sampler.model.init_cache(batch, jnp.float32).items()
    }
    state = official_sampler.SamplingState(
        tokens_buffer=jnp.zeros((batch, steps + 1), jnp.int32),
        rng=None,
        step=jnp.int32(0),
        total_steps=jnp.int32(steps + 1),  # its loop makes total_steps - 1 model calls
        positions=jnp.full((batch, 1), position, jnp.int32),
        cache=cache,
        done=jnp.zeros((batch,), bool),
    )

    def run() -> None:
        fresh = jax.tree.map(jnp.copy, state)  # the sampler donates its state
        jax.block_until_ready(sampler.sample_fn(sampler.params, fresh, False).tokens_buffer)

    return run


def copy_bandwidth(megabytes: int = 512, repetitions: int = 9) -> float:
    """Bytes read and written per second by an in-place `x + 1` over a large array."""
    x = jnp.ones(megabytes * 2**20 // 4, jnp.float32)
    scale = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    x = jax.block_until_ready(scale(x))
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        x = jax.block_until_ready(scale(x))
        times.append(time.perf_counter() - start)
    return 2 * x.nbytes / float(np.median(times))


def measure(size: Size, families=tuple(FAMILIES)) -> list[dict]:
    results = []
    for family in families:
        model = LanguageModel(FAMILIES[family], key=jax.random.key(0))
        for batch in size.batches:
            for position in size.positions:
                runs = {
                    "hawkzoo": ours(model, batch, position, size.steps),
                    "official": official(model, batch, position, size.steps),
                }
                for name, samples in interleaved(runs, size.repetitions)[1].items():
                    per_token = spread(samples, per=size.steps)
                    results.append(
                        {
                            "family": family,
                            "sampler": name,
                            "batch": batch,
                            "position": position,
                            **per_token,
                            "tokens_per_s": batch * 1e3 / per_token["median_ms"],
                        }
                    )
                print(f"measured {family} batch {batch} position {position}", flush=True)
    return results


def weights(size: Size) -> list[dict]:
    """Milliseconds a token with the weights in float32, bfloat16 and int8 (Griffin)."""
    config = FAMILIES["griffin"]
    model = LanguageModel(config, key=jax.random.key(0))
    bf16 = LanguageModel(dataclasses.replace(config, param_dtype="bfloat16"), key=jax.random.key(0))
    models = {"float32": model, "bfloat16": bf16, "int8": quantize(model)}
    results = []
    for batch in size.batches:
        runs = {name: ours(m, batch, 128, size.steps) for name, m in models.items()}
        runs["official float32"] = official(model, batch, 128, size.steps)
        _, times = interleaved(runs, size.repetitions)
        for name, samples in times.items():
            per_token = spread(samples, per=size.steps)
            tokens_per_s = batch * 1e3 / per_token["median_ms"]
            results.append(
                {"batch": batch, "weights": name, **per_token, "tokens_per_s": tokens_per_s}
            )
        print(f"measured weights at batch {batch}", flush=True)
    return results


def prefix_caching(size: Size, prefix: int = PREFIX) -> list[dict]:
    """Milliseconds a batch of requests that share a `prefix`-byte prefix takes (see the
    module)."""
    model = LanguageModel(FAMILIES["griffin"], key=jax.random.key(0))
    results = []
    for batch in size.batches:
        _, times = interleaved(_prefix_runs(model, batch, prefix), size.repetitions)
        results += [{"batch": batch, "run": name, **spread(t)} for name, t in times.items()]
        print(f"measured prefix caching at batch {batch}", flush=True)
    return results


def _prefix_runs(model: LanguageModel, batch: int, prefix: int) -> dict[str, Callable[[], object]]:
    tokenizer = ByteTokenizer()
    shared = (" ".join(PROMPTS) * prefix)[: prefix - 1]  # after the BOS
    questions = [f"Question {i:>6}:"[:QUESTION] for i in range(batch)]
    sampler = official_sampler_for(model, model.config.attention_window)  # pyright: ignore[reportArgumentType]
    cached = prefill(model, tokenizer.encode(shared))

    def answer(prompts, **given) -> None:
        generate(model, prompts, max_new_tokens=ANSWER, temperature=0.0, **given)

    return {
        "official, whole prompts": lambda: sampler(
            [shared + q for q in questions], total_generation_steps=ANSWER
        ),
        "hawkzoo, whole prompts": lambda: answer([tokenizer.encode(shared + q) for q in questions]),
        "hawkzoo, prefix prefilled once": lambda: jax.block_until_ready(
            prefill(model, tokenizer.encode(shared))
        ),
        "hawkzoo, questions after the cached prefix": lambda: answer(
            [tokenizer.encode(q, add_bos=False) for q in questions], prefix=cached
        ),
    }


def greedy_agreement(
    family: str = "griffin", new_tokens: int = 64, prompts: Sequence[str] = PROMPTS
) -> list[dict]:
    """Both samplers' greedy tokens for each prompt alone; where they part, the top-2
    margin of hawkzoo's logits there."""
    model = LanguageModel(FAMILIES[family], key=jax.random.key(0))
    window = model.config.attention_window or 4096
    sampler = official_sampler_for(model, window)
    tokenizer = ByteTokenizer()
    rows = []
    for text in prompts:
        prompt = tokenizer.encode(text)
        theirs = sampler([text], new_tokens, end_sampling_at_eos_token=False).tokens[0].tolist()
        mine = generate(model, [prompt], max_new_tokens=new_tokens, temperature=0.0).rows()[0]
        differ = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
        row = {"prompt": text, "prompt_tokens": len(prompt), "agree": not differ}
        if differ:
            sequence = jnp.asarray(prompt + mine)
            logits, _ = eqx.filter_jit(model)(sequence, jnp.arange(len(sequence)))
            top2 = jnp.sort(logits[len(prompt) - 1 + differ[0]])[-2:]
            row |= {"first_divergence": differ[0], "top2_margin": float(top2[1] - top2[0])}
        rows.append(row)
    return rows


def markdown(
    env: dict, results: list[dict], floor_ms: float, parameters: int, weighed, prefixes, greedy
) -> str:
    lines = [
        f"JAX {env['jax']} (jaxlib {env['jaxlib']}), {env['device_kind']} ({env['platform']}), "
        f"{env['cpu_count']} cores. {parameters / 1e6:.1f}M parameters in float32: "
        f"weight-read floor {floor_ms:.2f} ms a token. Milliseconds per token: median "
        "[p10, p90]; tokens/s = batch ÷ median; ×official = hawkzoo's tokens/s over the "
        "official sampler's.",
        "",
        "| model | batch | position | hawkzoo ms/token | official ms/token | hawkzoo tokens/s "
        "| official tokens/s | ×official | hawkzoo ÷ floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keyed = {(r["family"], r["batch"], r["position"], r["sampler"]): r for r in results}
    for (family, batch, position, name), mine in keyed.items():
        if name != "hawkzoo":
            continue
        theirs = keyed[family, batch, position, "official"]

        def cell(row: dict) -> str:
            return f"{row['median_ms']:.2f} [{row['p10_ms']:.2f}, {row['p90_ms']:.2f}]"

        lines.append(
            f"| {family} | {batch} | {position} | {cell(mine)} | {cell(theirs)} "
            f"| {mine['tokens_per_s']:.0f} | {theirs['tokens_per_s']:.0f} "
            f"| {mine['tokens_per_s'] / theirs['tokens_per_s']:.2f} "
            f"| {mine['median_ms'] / floor_ms:.2f} |"
        )
    lines += [
        "",
        "Weights (griffin, position 128): milliseconds per token, median [p10, p90]; "
        "×float32 = tokens/s over hawkzoo's in float32.",
        "",
        "| batch | weights | ms/token | tokens/s | ×float32 |",
        "|---|---|---|---|---|",
    ]
    base = {row["batch"]: row for row in weighed if row["weights"] == "float32"}
    lines += [
        f"| {row['batch']} | {row['weights']} | {row['median_ms']:.2f} "
        f"[{row['p10_ms']:.2f}, {row['p90_ms']:.2f}] | {row['tokens_per_s']:.0f} "
        f"| {row['tokens_per_s'] / base[row['batch']]['tokens_per_s']:.2f} |"
        for row in weighed
    ]
    lines += [
        "",
        f"Prefix caching (griffin): requests sharing a {PREFIX}-byte prefix, a "
        f"{QUESTION}-byte question each, {ANSWER} new tokens greedily; milliseconds a batch, "
        "median [p10, p90].",
        "",
        "| batch | run | ms |",
        "|---|---|---|",
    ]
    lines += [
        f"| {row['batch']} | {row['run']} | {row['median_ms']:.0f} "
        f"[{row['p10_ms']:.0f}, {row['p90_ms']:.0f}] |"
        for row in prefixes
    ]
    lines += ["", "Greedy tokens, each prompt alone (64 new tokens, float32):", ""]
    for row in greedy:
        verdict = (
            "same tokens"
            if row["agree"]
            else f"first divergence at token {row['first_divergence']}, "
            f"top-2 logit margin {row['top2_margin']:.2e}"
        )
        lines.append(f"- {row['prompt']!r} ({row['prompt_tokens']} tokens): {verdict}")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], floor_ms: float, path: Path) -> None:
    """Time per token against position, one panel per batch size (the paper's Figure 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["batch"] for r in results})
    figure, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 4.5), squeeze=False)
    colors = {"hawk": "tab:blue", "griffin": "tab:orange", "mqa": "tab:green"}
    for axis, batch in zip(axes[0], batches, strict=True):
        for family, color in colors.items():
            for name, style in [("hawkzoo", "-o"), ("official", "--x")]:
                rows = sorted(
                    (
                        r
                        for r in results
                        if (r["family"], r["batch"], r["sampler"]) == (family, batch, name)
                    ),
                    key=lambda r: r["position"],
                )
                if rows:
                    axis.plot(
                        [r["position"] for r in rows],
                        [r["median_ms"] for r in rows],
                        style,
                        color=color,
                        label=f"{family}, {name}",
                    )
        axis.axhline(floor_ms, color="black", linewidth=0.8, label="weight-read floor")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("context position")
        axis.set_ylabel("ms per token")
        axis.set_title(f"batch {batch}")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_rows(weighed: list[dict], prefixes: list[dict], path: Path) -> None:
    """Bars, median with p10-p90: ms a decoding step by weight format, and ms a batch of requests
    sharing a prefix by run, each at every batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import save_figure

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, rows, key, unit in [
        (axes[0], weighed, "weights", "ms a decoding step (from position 128)"),
        (axes[1], prefixes, "run", "ms a batch of requests"),
    ]:
        names = list(dict.fromkeys(row[key] for row in rows))
        batches = sorted({row["batch"] for row in rows})
        width = 0.8 / len(batches)
        for i, batch in enumerate(batches):
            chosen = {row[key]: row for row in rows if row["batch"] == batch}
            medians = np.array([chosen[name]["median_ms"] for name in names])
            spread_ = np.array(
                [[chosen[n]["median_ms"] - chosen[n]["p10_ms"] for n in names],
                 [chosen[n]["p90_ms"] - chosen[n]["median_ms"] for n in names]]
            )  # fmt: skip
            positions = np.arange(len(names)) + (i - (len(batches) - 1) / 2) * width
            axis.bar(positions, medians, width, yerr=spread_, label=f"batch {batch}")
        axis.set_xticks(range(len(names)), [textwrap.fill(n, 18) for n in names], fontsize=7)
        axis.set_ylabel(unit)
        axis.legend(fontsize=7)
    axes[1].set_yscale("log")
    save_figure(figure, path)


def main(argv=None) -> None:
    args = arguments(__doc__.splitlines()[0], SIZES, argv)
    env = environment()
    bandwidth = copy_bandwidth()
    parameters = num_parameters(LanguageModel(BASE, key=jax.random.key(0)))
    floor_ms = parameters * 4 / bandwidth * 1e3
    results = measure(SIZES[args.size])
    weighed = weights(SIZES[args.size])
    prefixes = prefix_caching(SIZES[args.size])
    greedy = greedy_agreement()
    table = markdown(env, results, floor_ms, parameters, weighed, prefixes, greedy)
    print(table)
    record = {
        "environment": env,
        "copy_bandwidth_gb_per_s": bandwidth / 1e9,
        "floor_ms": floor_ms,
        "parameters": parameters,
        "results": results,
        "weights": weighed,
        "prefix_caching": prefixes,
        "greedy": greedy,
    }
    stem = f"decode-{args.size}-{env['platform']}"
    write_results(args.out, stem, record, table, lambda path: plot(results, floor_ms, path))
    plot_rows(weighed, prefixes, args.out / f"{stem}-rows.png")


if __name__ == "__main__":
    main()
