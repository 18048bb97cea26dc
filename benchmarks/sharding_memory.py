"""Per-device memory and time of a training step on meshes of 8 devices, against one.

Every mesh gets its own copy of the model and optimiser state, placed by
`hawkzoo.sharding`'s rules; its step is compiled once and `memory_analysis()` of the
compiled program gives what each device holds: arguments (parameters, optimiser state,
batch), outputs that do not reuse a donated argument, and temporaries. Step times are
medians of interleaved repetitions. On a CPU the devices are simulated and share its
cores, so times show what partitioning costs there, not a speed-up.

    uv run python benchmarks/sharding_memory.py --size issue
"""

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax

from _common import BASE, arguments, environment, spread, write_results
from hawkzoo import sharding
from hawkzoo.data import Batch
from hawkzoo.model import LanguageModel, ModelConfig, num_parameters
from hawkzoo.training import TrainConfig, optimizer, train_step

DEVICES = 8
OPTIMIZER = optimizer(TrainConfig(steps=1000))
MESHES = (  # (mesh or None for one device, optimiser state over the data axis)
    (None, False),
    ("data=8", False),
    ("data=8", True),
    ("data=2,model=4", False),
    ("seq=8", False),
    ("data=2,model=2,seq=2", False),
    ("data=2,model=2,seq=2", True),
)


@dataclass(frozen=True)
class Size:
    config: ModelConfig
    rows: int
    length: int
    repetitions: int


SIZES = {
    "small": Size(BASE.replace(width=128, mlp_width=384, lru_width=128, num_layers=3), 8, 64, 2),
    "issue": Size(BASE, 8, 512, 3),
}


class Setup:
    """One mesh's model, optimiser state and batch, placed; `step()` takes a step."""

    def __init__(self, size: Size, axes: str | None, over_data: bool):
        model = LanguageModel(size.config, key=jax.random.key(0))
        opt_state = OPTIMIZER.init(eqx.filter(model, eqx.is_inexact_array))
        text = jax.random.randint(
            jax.random.key(1), (1, size.rows, size.length + 1), 0, size.config.vocab_size
        )
        tokens, targets = text[..., :-1], text[..., 1:]
        positions = jax.numpy.broadcast_to(jax.numpy.arange(size.length), tokens.shape)
        self.batch = Batch(tokens, positions, targets, jax.numpy.ones(tokens.shape, bool))
        self.mesh = None if axes is None else sharding.make_mesh(axes, jax.devices()[:DEVICES])
        self.placement = None
        if self.mesh is not None:
            model_placement = sharding.model_shardings(model, self.mesh)
            self.placement = (
                model_placement,
                sharding.optimizer_shardings(
                    OPTIMIZER, opt_state, model_placement, over_data=over_data
                ),
            )
            model = jax.device_put(model, self.placement[0])
            opt_state = jax.device_put(opt_state, self.placement[1])
        self.state = (model, opt_state)
        self.name = (axes or "one device") + (", optimiser over data" if over_data else "")

    def _batches(self) -> Batch:
        batches = jax.tree.map(jax.numpy.copy, self.batch)  # a step donates its batch
        if self.mesh is None:
            return batches
        return jax.device_put(batches, sharding.batch_sharding(self.mesh, batches.tokens.shape))

    def _call(self, method):
        with jax.set_mesh(self.mesh) if self.mesh is not None else contextlib.nullcontext():
            return method(OPTIMIZER, *self.state, self._batches(), placement=self.placement)

    def memory(self) -> dict[str, int]:
        """Bytes per device of the compiled step."""
        stats = self._call(train_step.lower).compile().compiled.memory_analysis()
        arguments, temporaries = stats.argument_size_in_bytes, stats.temp_size_in_bytes
        outputs = stats.output_size_in_bytes - stats.alias_size_in_bytes
        return {
            "arguments": arguments,
            "outputs": outputs,
            "temporaries": temporaries,
            "total": arguments + outputs + temporaries,
        }

    def step(self) -> float:
        model, opt_state, metrics = self._call(train_step)
        self.state = (model, opt_state)
        return float(metrics["loss"])


def measure(size: Size, meshes=MESHES) -> list[dict]:
    setups = [Setup(size, axes, over_data) for axes, over_data in meshes]
    rows = [{"mesh": s.name, "memory_bytes": s.memory(), "first_loss": s.step()} for s in setups]
    times: list[list[float]] = [[] for _ in setups]
    for _ in range(size.repetitions):
        for setup, setup_times in zip(setups, times, strict=True):
            start = time.perf_counter()
            setup.step()
            setup_times.append(time.perf_counter() - start)
    return [row | {"step": spread(t)} for row, t in zip(rows, times, strict=True)]


def markdown(env: dict, size: Size, parameters: int, rows: list[dict]) -> str:
    one = rows[0]["memory_bytes"]["total"]
    lines = [
        f"Griffin, {parameters / 1e6:.1f}M parameters, AdamW, a step of {size.rows} x "
        f"{size.length} tokens; jax {env['jax']}, {env['device_kind']} ({env['cpu_count']} "
        f"cores), {DEVICES} simulated devices. Memory per device from `memory_analysis()`, "
        f"MiB; step time median (p10-p90) of {size.repetitions}, interleaved.",
        "",
        "| mesh | arguments | temporaries | total | of one device | step, s | first loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        memory, step = row["memory_bytes"], row["step"]
        lines.append(
            f"| {row['mesh']} | {memory['arguments'] / 2**20:.1f} "
            f"| {memory['temporaries'] / 2**20:.1f} | {memory['total'] / 2**20:.1f} "
            f"| {memory['total'] / one:.2f} | {step['median_ms'] / 1e3:.2f} "
            f"({step['p10_ms'] / 1e3:.2f}-{step['p90_ms'] / 1e3:.2f}) "
            f"| {row['first_loss']:.6f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5))
    names = [row["mesh"] for row in rows]
    bottom = [0.0] * len(rows)
    for part in ("arguments", "outputs", "temporaries"):
        mib = [row["memory_bytes"][part] / 2**20 for row in rows]
        axis.barh(names, mib, left=bottom, label=part)
        bottom = [b + m for b, m in zip(bottom, mib, strict=True)]
    axis.invert_yaxis()
    axis.set_xlabel("MiB per device")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> None:
    args = arguments(__doc__.splitlines()[0], SIZES, argv)
    if jax.config.jax_num_cpu_devices < DEVICES:
        jax.config.update("jax_num_cpu_devices", DEVICES)
    size = SIZES[args.size]
    env = environment()
    parameters = num_parameters(LanguageModel(size.config, key=jax.random.key(0)))
    rows = measure(size)
    table = markdown(env, size, parameters, rows)
    print(table)
    stem = f"sharding-memory-{args.size}-{env['platform']}"
    record = {"environment": env, "parameters": parameters, "rows": rows}
    write_results(args.out, stem, record, table, lambda path: plot(rows, path))


if __name__ == "__main__":
    main()
