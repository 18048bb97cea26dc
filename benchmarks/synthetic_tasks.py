"""The paper's copy and retrieval experiments (section 6.2, Figures 6 and 7) in miniature.

Hawk, Griffin (one local-attention block, the third, window half the training length) and
the MQA Transformer (global attention with RoPE), each 5 residual blocks of width 64 at its
own learning rate, are trained on selective copying, induction heads and phonebook lookup,
up to 10 minutes each on 2 cores. Induction heads is evaluated at up to 16 times its
training length, phonebook lookup on books up to 4 times the size; selective copying
reports accuracy against step (speed of learning). Writes JSON, a markdown table and a
PNG; runs already in the JSON are kept (`--fresh` starts over).
"""

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from _common import environment, experiment_parser, names_of, positive, save_figure
from hawkzoo import checkpoints
from hawkzoo.data import AbstractTask, task as make_task
from hawkzoo.model import num_parameters
from hawkzoo.training import TrainConfig, accuracy, keep_freed_memory, train

FAMILIES = {"hawk": "tiny-hawk", "griffin": "tiny-griffin", "mqa": "tiny-mqa"}
EXPERIMENTS = {
    "induction-heads": {
        "seq_len": 64,
        "steps": {"hawk": 800, "griffin": 800, "mqa": 2000},  # each to 1.0 (mqa: 0.96-1.0)
        "at": (1, 2, 4, 8, 16),
        "chance": 1 / 15,
    },
    "selective-copying": {
        "seq_len": 64,
        "steps": {"hawk": 1600, "griffin": 800, "mqa": 1600},  # griffin: past 0.9 by 700
        "at": (1,),
        "task_options": {"num_data": 8},
        "chance": 1 / 14,
    },
    "phonebook": {
        "seq_len": 128,
        "xlabel": "row length (books of 15, 33 and 70 entries)",
        "steps": {"hawk": 1200, "griffin": 1200, "mqa": 1200},  # rows of 128: 10 minutes
        "at": (1, 2, 4),
        "chance": 1 / 10,
    },
    "mqar": {
        "seq_len": 64,  # trained with 8 key-value pairs, evaluated with 2 to 16
        "steps": {"hawk": 1600, "griffin": 1600, "mqa": 1600},
        "axis": "num_pairs",
        "at": (2, 4, 8, 16),
        "task_options": {"vocab_size": 64, "num_pairs": 8},
        "chance": 1 / 32,
    },
}
"""Each task's training length and steps a model (to convergence or within 10 minutes on 2
cores), where it is evaluated (`at` multiples of the training length, or with `at` values
of the task field named by `axis`), and chance accuracy."""
EVAL_ROWS = 256
LEARNING_RATES = {"hawk": 3e-3, "griffin": 3e-3, "mqa": 1e-3}
"""Each model's own peak learning rate: the best of a sweep on induction heads, seed 0
(hawk and griffin: 1e-3, 3e-3; mqa: 3e-4, 1e-3, 3e-3; docs/reproducing.md)."""


def config(task: str, family: str, seed: int, learning_rate: float, steps: int) -> TrainConfig:
    """The run: the family's tiny preset cut to 5 blocks over the task's vocabulary."""
    setup = EXPERIMENTS[task]
    options = setup.get("task_options", {})
    model = {"vocab_size": make_task(task, **options).vocab_size, "num_layers": 5}
    if family == "griffin":  # blocks R R A R R: one local attention, in the middle
        model["attention_window"] = setup["seq_len"] // 2
    return TrainConfig(
        preset=FAMILIES[family],
        model=model,
        task=task,
        task_options=options,
        seq_len=setup["seq_len"],
        batch_size=32,
        steps=steps,
        learning_rate=learning_rate,
        warmup=50,
        weight_decay=0.0,
        eval_every=100,
        checkpoint_every=steps,
        sample_tokens=0,
        seed=seed,
    )


def run(
    task: str, family: str, seed: int, out: Path, learning_rate: float, steps: int, eval_rows: int
) -> dict:
    """Train one model, then measure its accuracy on `eval_rows` fresh rows at each
    evaluation point."""
    settings = config(task, family, seed, learning_rate, steps)
    folder = out / f"{task}-{family}-{seed}-{learning_rate}-{steps}"
    tic = time.perf_counter()
    train(settings, folder, resume=folder.exists(), progress=False, log=lambda _: None)
    seconds = time.perf_counter() - tic
    model = checkpoints.load(folder)
    entries = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    curve = [(e["step"], e["accuracy"]) for e in entries if "accuracy" in e]
    key = jax.random.key(1000 + seed)
    points = evaluations(task, settings)
    by_point = [
        accuracy(model, task_, jax.random.fold_in(key, x), eval_rows, length)
        for x, task_, length in points
    ]
    return {
        "task": task,
        "family": family,
        "seed": seed,
        "learning_rate": learning_rate,
        "steps": steps,
        "parameters": num_parameters(model),
        "train_seconds": seconds,
        "machine": environment()["machine"],
        "curve": curve,
        "eval_rows": eval_rows,
        "at": [x for x, _, _ in points],
        "accuracy": by_point,
    }


def evaluations(task: str, settings: TrainConfig) -> list[tuple[int, AbstractTask, int]]:
    """Where a run is evaluated, as (the plot's x, the task, the row length): at multiples
    of the training length, or at the training length with the `axis` field changed."""
    setup, trained = EXPERIMENTS[task], settings.make_task()
    length = settings.row_length
    if "axis" in setup:
        changed = [dataclasses.replace(trained, **{setup["axis"]: x}) for x in setup["at"]]
        return [(x, t, length) for x, t in zip(setup["at"], changed, strict=True)]
    return [(k * length, trained, k * length) for k in setup["at"]]


def _setting(result: dict) -> tuple[str, str, float, int, int]:
    r = result
    return r["task"], r["family"], r["learning_rate"], r["steps"], r["seed"]


def _order(result: dict) -> tuple[int, int, float, int, int]:
    task, family = list(EXPERIMENTS).index(result["task"]), list(FAMILIES).index(result["family"])
    return task, family, -result["learning_rate"], -result["steps"], result["seed"]


def steps_to(result: dict, level: float = 0.9) -> int | None:
    """The first evaluation step at which accuracy reached `level`, None if none did."""
    return next((step for step, acc in result["curve"] if acc >= level), None)


def groups(results: list[dict], task: str) -> dict[tuple[str, float, int], list[dict]]:
    """The task's runs by model, learning rate and steps (the seeds of one setting)."""
    grouped: dict[tuple[str, float, int], list[dict]] = {}
    for r in sorted((r for r in results if r["task"] == task), key=_order):
        grouped.setdefault((r["family"], r["learning_rate"], r["steps"]), []).append(r)
    return grouped


def headline(results: list[dict], task: str) -> dict[str, list[dict]]:
    """Each model's runs at its own learning rate, the setting of the most steps (then
    seeds): the ones the plot and the claims use."""
    best: dict[str, list[dict]] = {}
    for (family, rate, steps), runs in groups(results, task).items():
        held = best.get(family)
        if rate == LEARNING_RATES[family] and (
            held is None or (steps, len(runs)) > (held[0]["steps"], len(held))
        ):
            best[family] = runs
    return best


def spread(values: list[float], digits: int = 3) -> str:
    """Mean and range over seeds, as `mean (low-high)`."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def markdown(env: dict, results: list[dict]) -> str:
    rows = sorted({r.get("eval_rows", EVAL_ROWS) for r in results})
    lines = [
        f"JAX {env['jax']}, {env['device_kind']}, {env['cpu_count']} cores; runs on "
        + "; ".join(sorted({r.get("machine", env["machine"]) for r in results}))
        + f" (each run's is in the JSON); {' or '.join(map(str, rows))} fresh rows per evaluation; "
        "train time "
        "includes compiles and evaluations; "
        "steps to 0.9: the first evaluation (every 100 steps, 128 rows) at 0.9 or more.",
        "",
    ]
    for task in dict.fromkeys(r["task"] for r in results):
        setup = EXPERIMENTS[task]
        points = next(r for r in results if r["task"] == task)["at"]
        unit = f" {setup['axis'].removeprefix('num_')}" if "axis" in setup else ""
        lines += [
            f"**{task}**: trained at length {setup['seq_len']} on 32 rows a step; "
            "mean and range over seeds.",
            "",
            "| model | learning rate | steps | seeds | train time | "
            + " | ".join(f"acc. @ {x}{unit}" for x in points)
            + " | steps to 0.9 |",
            "|---" * (6 + len(points)) + "|",
        ]
        for (family, rate, steps), runs in groups(results, task).items():
            reached = [steps_to(r) for r in runs]
            to_level = ", ".join("—" if s is None else str(s) for s in reached)
            lines.append(
                f"| {family} | {rate:g} | {steps} | {len(runs)} "
                f"| {spread([r['train_seconds'] for r in runs], 0)} s | "
                + " | ".join(spread([r["accuracy"][i] for r in runs]) for i in range(len(points)))
                + f" | {to_level} |"
            )
        lines.append("")
    return "\n".join(lines)


COLOURS = {"hawk": "tab:blue", "griffin": "tab:green", "mqa": "tab:red"}


def plot(results: list[dict], path: Path) -> None:
    """Each model's headline setting: mean over seeds, the range shaded, chance dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in results))
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for axis, task in zip(axes[0], tasks, strict=True):
        setup = EXPERIMENTS[task]
        headlines = headline(results, task)
        for family, runs in headlines.items():
            if len(setup["at"]) > 1:
                x, ys = runs[0]["at"], [r["accuracy"] for r in runs]
            else:
                x = [step for step, _ in runs[0]["curve"]]
                ys = [[acc for _, acc in r["curve"]] for r in runs]
            ys = np.asarray(ys)
            seeds = f"{len(runs)} seed{'s' * (len(runs) > 1)}"
            label = f"{family} (lr {runs[0]['learning_rate']:g}, {seeds})"
            axis.plot(x, ys.mean(0), "o-", color=COLOURS[family], label=label)
            axis.fill_between(x, ys.min(0), ys.max(0), color=COLOURS[family], alpha=0.2)
        if len(setup["at"]) > 1:
            x = next(iter(headlines.values()))[0]["at"]  # every run of the task has the same
            axis.set_xscale("log", base=2)
            axis.set_xticks(x, [str(v) for v in x])
            axis.set_xlabel(setup.get("xlabel", setup.get("axis", "evaluation length")))
            if "axis" in setup:
                trained = setup["task_options"][setup["axis"]]
                marker = f"trained with {trained}"
            else:
                trained, marker = setup["seq_len"], "training length"
            axis.axvline(trained, color="grey", ls="--", lw=1, label=marker)
        else:
            axis.set_xlabel("training step")
        axis.axhline(setup["chance"], color="black", ls=":", lw=1, label="chance")
        axis.set_ylabel("accuracy")
        axis.set_ylim(0, 1.02)
        axis.set_title(task)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    save_figure(figure, path)


def main(argv=None) -> None:
    parser = experiment_parser(
        __doc__.splitlines()[0], FAMILIES, "synthetic-tasks-cpu", "the task's, EXPERIMENTS"
    )
    parser.add_argument("--tasks", type=names_of(EXPERIMENTS), default=",".join(EXPERIMENTS))
    parser.add_argument(
        "--learning-rate", type=float, help="one for every model (default: LEARNING_RATES)"
    )
    parser.add_argument("--eval-rows", type=positive, default=EVAL_ROWS, help="rows an evaluation")
    args = parser.parse_args(argv)
    keep_freed_memory()
    out = args.out or Path(tempfile.mkdtemp(prefix="hawkzoo-tasks-"))
    env = environment()
    base = args.results / args.name
    results = []
    if not args.fresh and base.with_suffix(".json").exists():
        results = json.loads(base.with_suffix(".json").read_text())["results"]
    for task in args.tasks:
        for seed in args.seeds:
            for family in args.families:
                steps = args.steps or EXPERIMENTS[task]["steps"][family]
                rate = args.learning_rate or LEARNING_RATES[family]
                if any(_setting(r) == (task, family, rate, steps, seed) for r in results):
                    continue  # measured already: an interrupted reproduction resumes
                result = run(task, family, seed, out, rate, steps, args.eval_rows)
                results.append(result)
                save(base, env, results)
                accs = ", ".join(
                    f"{n}: {a:.3f}" for n, a in zip(result["at"], result["accuracy"], strict=True)
                )
                seconds = result["train_seconds"]
                print(f"{task} {family} seed {seed}: {seconds:.0f} s; accuracy {accs}", flush=True)
    print(markdown(env, results))


def save(base: Path, env: dict, results: list[dict]) -> None:
    """Write the JSON, the table and the plot (after every run: an interruption keeps the
    runs done)."""
    results.sort(key=_order)
    base.parent.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".json").write_text(
        json.dumps({"environment": env, "results": results}, indent=2)
    )
    base.with_suffix(".md").write_text(markdown(env, results))
    plot(results, base.with_suffix(".png"))


if __name__ == "__main__":
    main()
