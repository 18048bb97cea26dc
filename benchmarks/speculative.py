"""Speculative decoding of the main job's model: tokens/s against plain decoding, and the
acceptance rate against the number of draft tokens.

The model is a run of `hawkzoo train`; each draft is a smaller model trained on the same
corpus, e.g. a Hawk of width 64 with one or two layers:

    uv run hawkzoo train
    for layers in 1 2; do uv run hawkzoo train --preset small-hawk --set model.width=64 \\
        --set model.mlp_width=192 --set model.lru_width=64 \\
        --set model.num_layers=$layers --out runs/draft-$layers; done
    uv run python benchmarks/speculative.py runs/train --drafts runs/draft-1 runs/draft-2

Each of `PROMPTS` prompts (the first `PROMPT_BYTES` bytes of a held-out file) is continued
alone (batch 1) by `NEW_TOKENS` tokens, greedily and at temperature 0.8, by `generate`
without a draft and with each draft proposing k tokens a round; beside them, each draft
decoding alone and the model as its own draft (every token accepted: what a round's
machinery costs). A run is all the prompts;
runs are timed in interleaved repetitions after a warm-up, so machine noise falls on all
alike. (The official sampler cannot run the main job's model: its code ties the RG-LRU's
gate blocks to the attention heads, 4 and 2 here.)
"""

import argparse
from collections.abc import Callable
from pathlib import Path

import jax

from _common import environment, interleaved, spread, write_results
from hawkzoo import checkpoints
from hawkzoo.data import load_corpus
from hawkzoo.model import LanguageModel, num_parameters
from hawkzoo.sampling import Generation, generate
from hawkzoo.tokenizers import ByteTokenizer
from hawkzoo.training import saved_config

PROMPTS, PROMPT_BYTES, NEW_TOKENS = 4, 64, 128
DRAFT_TOKENS = (1, 2, 3, 4, 6, 8)
TEMPERATURES = (0.0, 0.8)


def prompts(run: Path) -> list[str]:
    """The first bytes of the first held-out files of the run's corpus."""
    held_out = load_corpus(saved_config(run).data).held_out
    return [doc.data[:PROMPT_BYTES].decode("utf-8", "ignore") for doc in held_out[:PROMPTS]]


def runs(
    model: LanguageModel, drafts: dict[str, LanguageModel], texts: list[str], temperature: float
) -> dict[str, Callable[[], list[Generation]]]:
    tokenizer = ByteTokenizer()
    encoded = [tokenizer.encode(text) for text in texts]

    def each_prompt(decoder: LanguageModel = model, **given) -> Callable[[], list[Generation]]:
        settings = dict(max_new_tokens=NEW_TOKENS, temperature=temperature) | given
        return lambda: [
            generate(decoder, [prompt], key=jax.random.key(i), **settings)
            for i, prompt in enumerate(encoded)
        ]

    chosen = {"no draft": each_prompt()}
    for name, draft in drafts.items():
        chosen[f"{name} alone"] = each_prompt(draft)
        for k in DRAFT_TOKENS:
            chosen[f"{name}, k={k}"] = each_prompt(draft=draft, draft_tokens=k)
    chosen["the model as its own draft, k=4"] = each_prompt(draft=model, draft_tokens=4)
    return chosen


def measure(
    model: LanguageModel, drafts: dict[str, LanguageModel], texts: list[str], repetitions: int
) -> list[dict]:
    results = []
    for temperature in TEMPERATURES:
        first, times = interleaved(runs(model, drafts, texts, temperature), repetitions)
        plain = spread(times["no draft"], per=NEW_TOKENS * len(texts))["median_ms"]
        for name, samples in times.items():
            per_token = spread(samples, per=NEW_TOKENS * len(texts))
            row = {"temperature": temperature, "run": name, **per_token}
            row["speedup"] = plain / per_token["median_ms"]
            if ", k=" in name and "own draft" not in name:
                generations = first[name]
                row["draft"], k = name.split(", k=")
                row["draft_tokens"] = int(k)
                row["acceptance"] = sum(int(g.accepted.sum()) for g in generations) / sum(
                    int(g.drafted.sum()) for g in generations
                )
            results.append(row)
        print(f"measured temperature {temperature}", flush=True)
    return results


def markdown(env: dict, results: list[dict], sizes: dict[str, int]) -> str:
    lines = [
        f"JAX {env['jax']}, {env['device_kind']} ({env['machine']}, {env['cpu_count']} cores). "
        f"{PROMPTS} held-out prompts of {PROMPT_BYTES} bytes, each alone (batch 1), "
        f"{NEW_TOKENS} new tokens. Milliseconds a token: median [p10, p90] of interleaved "
        "repetitions; ×plain = tokens/s over `generate` without a draft; acceptance = "
        "accepted ÷ proposed draft tokens. Parameters: "
        + ", ".join(f"{name} {count:,}" for name, count in sizes.items())
        + ".",
        "",
        "| temperature | run | ms/token | ×plain | acceptance |",
        "|---|---|---|---|---|",
    ]
    for row in results:
        acceptance = f"{row['acceptance']:.2f}" if "acceptance" in row else ""
        lines.append(
            f"| {row['temperature']:g} | {row['run']} | {row['median_ms']:.3f} "
            f"[{row['p10_ms']:.3f}, {row['p90_ms']:.3f}] | {row['speedup']:.2f} | {acceptance} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> None:
    """Speed-up and acceptance against k, one line per draft and temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import save_figure

    figure, (speed, accept) = plt.subplots(1, 2, figsize=(11, 4))
    drafted = [row for row in results if "draft" in row]
    for draft in sorted({row["draft"] for row in drafted}):
        for temperature, style in zip(TEMPERATURES, ("-o", "--x"), strict=True):
            rows = [r for r in drafted if (r["draft"], r["temperature"]) == (draft, temperature)]
            ks = [r["draft_tokens"] for r in rows]
            label = f"{draft}, temperature {temperature:g}"
            speed.plot(ks, [r["speedup"] for r in rows], style, label=label)
            accept.plot(ks, [r["acceptance"] for r in rows], style, label=label)
    speed.axhline(1.0, color="black", linewidth=0.8)
    speed.axhline(1.5, color="gray", linestyle=":", linewidth=0.8, label="goal 1.5×")
    speed.set(xlabel="draft tokens a round (k)", ylabel="tokens/s ÷ without a draft")
    accept.set(xlabel="draft tokens a round (k)", ylabel="accepted ÷ proposed", ylim=(0, 1))
    speed.legend(fontsize=7)
    accept.legend(fontsize=7)
    save_figure(figure, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", default=Path("runs/train"))
    parser.add_argument("--drafts", type=Path, nargs="+", required=True)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    model = checkpoints.load(args.run)
    drafts = {path.name: checkpoints.load(path) for path in args.drafts}
    sizes = {"model": num_parameters(model)} | {n: num_parameters(d) for n, d in drafts.items()}
    results = measure(model, drafts, prompts(args.run), args.repetitions)
    env = environment()
    table = markdown(env, results, sizes)
    print(table)
    record = {"environment": env, "parameters": sizes, "results": results}
    stem = f"speculative-{env['platform']}"
    write_results(args.out, stem, record, table, lambda path: plot(results, path))


if __name__ == "__main__":
    main()
