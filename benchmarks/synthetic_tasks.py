"""The paper's copy and retrieval experiments (section 6.2, Figure 6) in miniature.

Hawk, Griffin (one local-attention block, the third, window half the training length) and
the MQA Transformer (global attention with RoPE), each 5 residual blocks of width 64, are
trained on induction heads and on selective copying, a few minutes each on a CPU. Induction
heads is then evaluated at up to 16 times its training length; selective copying reports
accuracy against step (speed of learning). Writes JSON, a markdown table and a PNG.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax

from _common import environment
from hawkzoo import checkpoints
from hawkzoo.data import task as make_task
from hawkzoo.model import num_parameters
from hawkzoo.training import TrainConfig, accuracy, train

FAMILIES = {"hawk": "tiny-hawk", "griffin": "tiny-griffin", "mqa": "tiny-mqa"}
EXPERIMENTS = {
    "induction-heads": {"seq_len": 64, "steps": 800, "lengths": (1, 2, 4, 8, 16)},
    "selective-copying": {
        "seq_len": 64,
        "steps": 800,
        "lengths": (1,),
        "task_options": {"num_data": 8},
    },
}
EVAL_ROWS = 256
LEARNING_RATE = 3e-3


def config(task: str, family: str, seed: int, learning_rate: float = LEARNING_RATE) -> TrainConfig:
    """The run: the family's tiny preset cut to 5 blocks over a 16-token vocabulary."""
    setup = EXPERIMENTS[task]
    model = {"vocab_size": 16, "num_layers": 5}
    if family == "griffin":  # blocks R R A R R: one local attention, in the middle
        model["attention_window"] = setup["seq_len"] // 2
    return TrainConfig(
        preset=FAMILIES[family],
        model=model,
        task=task,
        task_options=setup.get("task_options", {}),
        seq_len=setup["seq_len"],
        batch_size=32,
        steps=setup["steps"],
        learning_rate=learning_rate,
        warmup=50,
        weight_decay=0.0,
        eval_every=100,
        checkpoint_every=setup["steps"],
        sample_tokens=0,
        seed=seed,
    )


def run(task: str, family: str, seed: int, out: Path, learning_rate: float = LEARNING_RATE) -> dict:
    """Train one model, then measure its accuracy at each evaluation length."""
    settings = config(task, family, seed, learning_rate)
    folder = out / f"{task}-{family}-{seed}-{learning_rate}"
    tic = time.perf_counter()
    train(settings, folder, progress=False, log=lambda _: None)
    seconds = time.perf_counter() - tic
    model = checkpoints.load(folder / "checkpoint")
    entries = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    curve = [(e["step"], e["accuracy"]) for e in entries if "accuracy" in e]
    key = jax.random.key(1000 + seed)
    lengths = [n * settings.row_length for n in EXPERIMENTS[task]["lengths"]]
    task_ = make_task(task, **settings.task_options)
    by_length = [accuracy(model, task_, jax.random.fold_in(key, n), EVAL_ROWS, n) for n in lengths]
    return {
        "task": task,
        "family": family,
        "seed": seed,
        "learning_rate": learning_rate,
        "parameters": num_parameters(model),
        "train_seconds": seconds,
        "curve": curve,
        "lengths": lengths,
        "accuracy": by_length,
    }


def _order(result: dict) -> tuple[int, float, int, int]:
    task, family = list(EXPERIMENTS).index(result["task"]), list(FAMILIES).index(result["family"])
    return task, -result["learning_rate"], result["seed"], family


def markdown(env: dict, results: list[dict]) -> str:
    lines = [
        f"JAX {env['jax']}, {env['device_kind']} ({env['machine']}, {env['cpu_count']} cores); "
        f"{EVAL_ROWS} fresh rows per length; train time includes compiles and evaluations.",
        "",
    ]
    for task in dict.fromkeys(r["task"] for r in results):
        rows = [r for r in results if r["task"] == task]
        setup = EXPERIMENTS[task]
        lines += [
            f"**{task}**: trained at length {setup['seq_len']}, {setup['steps']} steps of 32 rows.",
            "",
            "| model | seed | learning rate | parameters | train time | "
            + " | ".join(f"acc. @ {n}" for n in rows[0]["lengths"])
            + " | "
            + " | ".join(f"step {s}" for s, _ in rows[0]["curve"])
            + " |",
            "|---" * (5 + len(rows[0]["lengths"]) + len(rows[0]["curve"])) + "|",
        ]
        for r in rows:
            lines.append(
                f"| {r['family']} | {r['seed']} | {r['learning_rate']:g} | {r['parameters']:,} "
                f"| {r['train_seconds']:.0f} s | "
                + " | ".join(f"{a:.3f}" for a in r["accuracy"])
                + " | "
                + " | ".join(f"{a:.2f}" for _, a in r["curve"])
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in results))
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    colours = {"hawk": "tab:blue", "griffin": "tab:green", "mqa": "tab:red"}
    for axis, task in zip(axes[0], tasks, strict=True):
        for r in (r for r in results if r["task"] == task):
            label = f"{r['family']} (seed {r['seed']}, lr {r['learning_rate']:g})"
            if len(r["lengths"]) > 1:
                axis.plot(
                    r["lengths"], r["accuracy"], "o-", color=colours[r["family"]], label=label
                )
                axis.set_xscale("log", base=2)
                axis.set_xlabel("evaluation length")
            else:
                steps, accs = zip(*r["curve"], strict=True)
                axis.plot(steps, accs, "o-", color=colours[r["family"]], label=label)
                axis.set_xlabel("training step")
        axis.set_ylabel("accuracy")
        axis.set_ylim(0, 1.02)
        axis.set_title(task)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(EXPERIMENTS))
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--results", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--name", default="synthetic-tasks-cpu")
    parser.add_argument(
        "--append", action="store_true", help="add to the results already in the JSON file"
    )
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="hawkzoo-tasks-"))
    env = environment()
    base = args.results / args.name
    results = []
    if args.append and base.with_suffix(".json").exists():
        results = json.loads(base.with_suffix(".json").read_text())["results"]
    for task in args.tasks.split(","):
        for seed in map(int, args.seeds.split(",")):
            for family in args.families.split(","):
                result = run(task, family, seed, out, args.learning_rate)
                results.append(result)
                accs = ", ".join(
                    f"{n}: {a:.3f}"
                    for n, a in zip(result["lengths"], result["accuracy"], strict=True)
                )
                seconds = result["train_seconds"]
                print(f"{task} {family} seed {seed}: {seconds:.0f} s; accuracy {accs}", flush=True)
    results.sort(key=_order)
    args.results.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".json").write_text(
        json.dumps({"environment": env, "results": results}, indent=2)
    )
    base.with_suffix(".md").write_text(markdown(env, results))
    plot(results, base.with_suffix(".png"))
    print(markdown(env, results))


if __name__ == "__main__":
    main()
