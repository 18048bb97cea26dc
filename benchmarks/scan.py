"""Scan backends side by side with the naive scan, the official scans and the memory floor.

Every method runs on the same arrays in one process, in interleaved repetitions after a
warm-up; each timing is reported as median, p10 and p90, as effective bandwidth (the bytes
the scan must move ÷ time) and as a ratio to the in-place elementwise floor `a * x`.

    uv run python benchmarks/scan.py                  # small shapes, about a minute
    uv run python benchmarks/scan.py --size issue     # the four reference shapes
    uv run python benchmarks/scan.py --size device    # (8, 4096, 2048) bfloat16 (`sweep`: T)
"""

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import hawkzoo
from _common import environment, spread
from hawkzoo import backends


@dataclass(frozen=True)
class Size:
    shapes: list[tuple[int, int, int]]
    dtypes: str
    slow_compiles: bool  # the official unroll-128 scan takes 25-90 s to compile per shape


SIZES = {
    "small": Size([(4, 1024, 256)], "float32", slow_compiles=False),
    "smoke": Size([(2, 16, 8)], "float32", slow_compiles=False),  # the device check's smoke test
    "issue": Size(
        [(1, 4096, 1024), (8, 2048, 1024), (1, 16384, 1024), (4, 2048, 2560)],
        "float32,bfloat16",
        slow_compiles=True,
    ),
    # The device check's: a wide batch, then time swept at batch × channels = 2048.
    "device": Size([(8, 4096, 2048)], "bfloat16", slow_compiles=False),
    "sweep": Size([(1, t, 2048) for t in (1024, 4096, 16384, 65536)], "bfloat16", False),
}
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
FLOOR = "a * x, in place"


@dataclass(frozen=True)
class Method:
    name: str
    layout: str  # "batch-major" (B, T, D) or "time-major" (T, B, D)
    forward: Callable  # (a, x) -> outputs
    differentiable: bool = True  # also time forward+backward
    donates: bool = False


def _naive_scan(a, x):
    """The scan a user would write: `lax.scan` over time, float32 state."""

    def step(h, ax):
        h = ax[0].astype(jnp.float32) * h + ax[1].astype(jnp.float32)
        return h, h.astype(x.dtype)

    h_last, h = jax.lax.scan(step, jnp.zeros(x.shape[1:], jnp.float32), (a, x))
    return h, h_last


def _official(scan_type: str, unroll: int = 1) -> Callable | None:
    try:
        from recurrentgemma import common
        from recurrentgemma.jax import scan
    except ImportError:
        return None
    kind = getattr(common.ScanType, scan_type)
    return lambda a, x: scan.linear_scan(x, a, scan_type=kind, unroll=unroll)


def methods(slow_compiles: bool) -> list[Method]:
    found = []
    probe = jnp.zeros((2, 128))
    for name in backends.registered():
        if backends.get(name).unsupported_reason(probe, probe) is not None:
            continue  # a kernel for other hardware
        scan = partial(hawkzoo.linear_scan, backend=name)
        found.append(Method(f"hawkzoo {name}", "batch-major", jax.vmap(scan)))
        found.append(Method(f"hawkzoo {name}", "time-major", scan))
    found.append(Method("naive lax.scan", "batch-major", jax.vmap(_naive_scan)))
    found.append(Method("naive lax.scan", "time-major", _naive_scan))
    for label, official in [
        ("official LINEAR_NATIVE, unroll 1", _official("LINEAR_NATIVE")),
        ("official LINEAR_NATIVE, unroll 128", _official("LINEAR_NATIVE", 128)),
        ("official ASSOCIATIVE_NATIVE", _official("ASSOCIATIVE_NATIVE")),
    ]:
        if official is not None and (slow_compiles or "128" not in label):
            # Unrolled 128 times, forward+backward compiles for a minute and runs for
            # seconds at the reference shapes: its forward alone is timed.
            found.append(Method(label, "batch-major", official, differentiable="128" not in label))
    found.append(Method("a * x", "batch-major", jnp.multiply, differentiable=False))
    found.append(Method(FLOOR, "batch-major", jnp.multiply, differentiable=False, donates=True))
    return found


def _forward_and_backward(forward: Callable) -> Callable:
    def run(a, x, dh):
        outputs, pullback = jax.vjp(forward, a, x)
        cotangents = (dh, jnp.zeros_like(outputs[1]))
        return outputs, pullback(cotangents)

    return run


def _timer(method: Method, backward: bool, a, x, dh) -> Callable[[], float]:
    """A function that times one call of `method`, after one untimed call of its own.

    On CPU a fresh output of tens of MB costs thousands of page faults unless the
    allocator can reuse what the previous call freed; the untimed call puts each method in
    that steady state, so no method pays for the allocations of the one before it.
    """
    if method.donates:
        fn = jax.jit(method.forward, donate_argnums=0)

        def arguments():
            return jax.block_until_ready(a + 0), x  # donated: each call needs its own buffer

    else:
        fn = jax.jit(_forward_and_backward(method.forward) if backward else method.forward)

        def arguments():
            return (a, x, dh) if backward else (a, x)

    def timed():
        jax.block_until_ready(fn(*arguments()))
        args = arguments()
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return time.perf_counter() - start

    return timed


def measure(shape, dtype, repetitions: int, slow_compiles: bool, warmup: int = 1) -> list[dict]:
    batch, steps, width = shape
    keys = jax.random.split(jax.random.key(0), 3)
    a = jax.random.uniform(keys[0], shape, minval=0.9, maxval=0.999).astype(dtype)
    x = jax.random.normal(keys[1], shape).astype(dtype)
    dh = jax.random.normal(keys[2], shape).astype(dtype)
    as_time_major = jax.jit(lambda v: jnp.swapaxes(v, 0, 1))
    layouts = {
        "batch-major": (a, x, dh),
        "time-major": tuple(jax.block_until_ready(as_time_major(v)) for v in (a, x, dh)),
    }
    runs = {}
    for method in methods(slow_compiles):
        for backward in [False, True] if method.differentiable else [False]:
            runs[method, backward] = _timer(method, backward, *layouts[method.layout])
    times = {key: [] for key in runs}
    for _ in range(warmup):
        for timed in runs.values():
            timed()
    for _ in range(repetitions):
        for key, timed in runs.items():
            times[key].append(timed())

    elements = batch * steps * width * jnp.dtype(dtype).itemsize
    floor = np.median(times[next(k for k in runs if k[0].name == FLOOR)])
    results = []
    for (method, backward), samples in times.items():
        median = float(np.median(samples))
        forward = np.median(times[method, False])
        moved = (
            8 if backward else 3
        ) * elements  # read a, x; write h (+ read a, dh, h; write da, dx)
        results.append(
            {
                "shape": list(shape),
                "dtype": jnp.dtype(dtype).name,
                "method": method.name,
                "layout": method.layout,
                "pass": "forward+backward" if backward else "forward",
                **spread(samples),
                "gb_per_s": moved / median / 1e9,
                "ratio_to_floor": median / floor,
                "ratio_to_own_forward": median / forward,
            }
        )
    return results


def markdown(environment: dict, results: list[dict]) -> str:
    lines = [
        f"JAX {environment['jax']} (jaxlib {environment['jaxlib']}), "
        f"{environment['device_kind']} ({environment['platform']}), "
        f"{environment['cpu_count']} cores. Times in ms: median [p10, p90]; "
        "×floor is the forward time over the in-place `a * x`; "
        "×fwd is forward+backward over the same method's forward.",
        "",
    ]
    groups = {}
    for row in results:
        groups.setdefault((tuple(row["shape"]), row["dtype"]), []).append(row)
    for (shape, dtype), rows in groups.items():
        lines += [
            f"#### (batch, T, D) = {shape}, {dtype}",
            "",
            "| method | layout | forward | GB/s | ×floor | forward+backward | GB/s | ×fwd |",
            "|---|---|---|---|---|---|---|---|",
        ]
        by_method = {}
        for row in rows:
            by_method.setdefault((row["method"], row["layout"]), {})[row["pass"]] = row
        for (name, layout), passes in by_method.items():
            fwd, both = passes["forward"], passes.get("forward+backward")
            cells = [
                name,
                layout,
                f"{fwd['median_ms']:.2f} [{fwd['p10_ms']:.2f}, {fwd['p90_ms']:.2f}]",
                f"{fwd['gb_per_s']:.1f}",
                f"{fwd['ratio_to_floor']:.2f}",
            ]
            if both is None:
                cells += ["", "", ""]
            else:
                cells += [
                    f"{both['median_ms']:.2f} [{both['p10_ms']:.2f}, {both['p90_ms']:.2f}]",
                    f"{both['gb_per_s']:.1f}",
                    f"{both['ratio_to_own_forward']:.2f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _median(rows, method, layout, kind="forward"):
    for row in rows:
        if (row["method"], row["layout"], row["pass"]) == (method, layout, kind):
            return row["median_ms"]
    return float("nan")


def summary(results: list[dict]) -> str:
    """The ratios the targets are stated in, one row per shape and dtype."""
    lines = [
        "| (batch, T, D) | dtype | auto ÷ best naive, batch-major / time-major "
        "| vmapped naive ÷ auto | official unroll 1 ÷ auto, fwd / fwd+bwd "
        "| official unroll 128 ÷ auto, fwd | auto fwd+bwd ÷ fwd "
        "| auto ÷ in-place floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for row in results:
        groups.setdefault((tuple(row["shape"]), row["dtype"]), []).append(row)
    for (shape, dtype), rows in groups.items():
        auto = {
            (layout, kind): _median(rows, "hawkzoo auto", layout, kind)
            for layout in ("batch-major", "time-major")
            for kind in ("forward", "forward+backward")
        }
        naive_vmap = _median(rows, "naive lax.scan", "batch-major")
        best_naive = min(naive_vmap, _median(rows, "naive lax.scan", "time-major"))
        official = {
            (unroll, kind): _median(
                rows, f"official LINEAR_NATIVE, unroll {unroll}", "batch-major", kind
            )
            for unroll, kinds in [(1, ("forward", "forward+backward")), (128, ("forward",))]
            for kind in kinds
        }
        auto_bm, auto_bm_both = (
            auto["batch-major", "forward"],
            auto["batch-major", "forward+backward"],
        )
        cells = [
            str(shape),
            dtype,
            f"{auto_bm / best_naive:.2f} / {auto['time-major', 'forward'] / best_naive:.2f}",
            f"{naive_vmap / auto_bm:.2f}",
            f"{official[1, 'forward'] / auto_bm:.2f} / "
            f"{official[1, 'forward+backward'] / auto_bm_both:.2f}",
            "not timed"
            if np.isnan(official[128, "forward"])
            else f"{official[128, 'forward'] / auto_bm:.2f}",
            f"{auto_bm_both / auto_bm:.2f}",
            f"{auto_bm / _median(rows, FLOOR, 'batch-major'):.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path) -> None:
    """Forward time over the in-place floor: one panel per shape (columns) and dtype (rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = list(dict.fromkeys(tuple(r["shape"]) for r in results))
    dtypes = list(dict.fromkeys(r["dtype"] for r in results))
    figure, axes = plt.subplots(
        len(dtypes),
        len(shapes),
        figsize=(4.5 * len(shapes), 4.5 * len(dtypes)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for row, dtype in enumerate(dtypes):
        for column, shape in enumerate(shapes):
            axis = axes[row, column]
            forward = [
                r
                for r in results
                if (tuple(r["shape"]), r["dtype"], r["pass"]) == (shape, dtype, "forward")
            ]
            axis.barh(
                [f"{r['method']} ({r['layout']})" for r in forward],
                [r["ratio_to_floor"] for r in forward],
                xerr=[
                    [
                        (r["median_ms"] - r["p10_ms"]) / r["median_ms"] * r["ratio_to_floor"]
                        for r in forward
                    ],
                    [
                        (r["p90_ms"] - r["median_ms"]) / r["median_ms"] * r["ratio_to_floor"]
                        for r in forward
                    ],
                ],
            )
            axis.set_xscale("log")
            axis.axvline(1.0, color="black", linewidth=0.8)
            axis.set_title(f"{shape}, {dtype}", fontsize=9)
            axis.tick_params(axis="y", labelsize=7)
            if row == len(dtypes) - 1:
                axis.set_xlabel("forward time ÷ in-place a * x (p10-p90)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--dtypes", help="comma-separated; default: the size's own")
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    env = environment()
    results = []
    size = SIZES[args.size]
    for shape in size.shapes:
        for dtype in (args.dtypes or size.dtypes).split(","):
            results += measure(shape, DTYPES[dtype], args.repetitions, size.slow_compiles)
            print(f"measured {shape} {dtype}", flush=True)
    table = "Targets, auto on batch-major inputs under `jax.vmap`:\n\n" + summary(results)
    table += "\n" + markdown(env, results)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"scan-{args.size}-{env['platform']}"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"environment": env, "results": results}, indent=1)
    )
    (args.out / f"{stem}.md").write_text(table)
    plot(results, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.{{json,md,png}}")


if __name__ == "__main__":
    main()
