"""`verify`, the `hawkzoo doctor`: every backend against the float64 oracle on fixed
problems, then timed, on the machine at hand."""

import dataclasses
import datetime
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _oracle, _platform, _trust
from ._api import linear_scan
from ._auto import ScanBackendFallbackWarning
from ._base import AbstractScanBackend
from ._pallas_gpu import PallasGPU
from ._pallas_tpu import PallasTPU
from ._registry import get, registered, use


@dataclasses.dataclass(frozen=True)
class Case:
    """One fixed problem: `steps` × `channels` in `dtype`, with `h0` and resets; `rows`
    more than 0 makes it a batch of that many rows under `jax.vmap`."""

    name: str
    steps: int
    channels: int
    dtype: str
    rows: int = 0
    reverse: bool = False
    regime: str = "mixed"
    seed: int = 0


CASES = (
    Case("float32, h0 and resets", 64, 8, "float32"),
    Case("float32, reversed", 64, 8, "float32", reverse=True, regime="uniform"),
    Case("bfloat16, 129 channels", 256, 129, "bfloat16"),
    Case("complex64", 64, 8, "complex64", regime="uniform"),
    Case("4096 steps of 2 rows (split in time)", 4096, 256, "float32", rows=2, regime="near_one"),
    Case("bfloat16, 270 rows of 130 (split in rows)", 64, 130, "bfloat16", rows=270),
)
INTERPRETED_CASES = CASES[:4]  # Pallas's interpreters take milliseconds a step
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "complex64": jnp.complex64}
# Batch-major (rows, steps, channels) shapes timed on CPU, and on GPUs and TPUs.
TIMED = {
    "cpu": (((4, 1024, 256), "float32"), ((1, 4096, 256), "float32"), ((4, 1024, 256), "bfloat16")),
    "accelerator": (
        ((8, 4096, 2048), "bfloat16"),
        ((8, 4096, 2048), "float32"),
        ((1, 16384, 2048), "bfloat16"),
        ((64, 1024, 1024), "bfloat16"),
    ),
}

Outcome = Literal["passed", "failed", "error", "refused"]


@dataclasses.dataclass(frozen=True)
class Check:
    case: str
    outcome: Outcome
    detail: str | None = None  # what disagreed, the error, or why it was refused


@dataclasses.dataclass(frozen=True)
class Timing:
    shape: tuple[int, int, int]
    dtype: str
    forward_ms: float
    backward_ms: float  # forward and backward
    gb_per_s: float  # of the forward pass: reads a and x, writes h
    of_copy: float  # that bandwidth over a copy's of the same bytes, in this process


@dataclasses.dataclass(frozen=True)
class BackendReport:
    name: str
    native: bool  # False: in Pallas's interpreter
    refused: str | None  # why it cannot run here at all
    checks: tuple[Check, ...] = ()
    timings: tuple[Timing, ...] = ()
    models: tuple[dict[str, Any], ...] = ()  # a preset's train step and decoding, timed

    @property
    def verified(self) -> bool:
        """Ran natively here, and every check it accepts agreed with the oracle."""
        outcomes = {check.outcome for check in self.checks}
        return self.native and "passed" in outcomes and outcomes <= {"passed", "refused"}


@dataclasses.dataclass(frozen=True)
class Verification:
    """What [`verify`][hawkzoo.backends.verify] found: `table()` for people, `to_json()`
    for files."""

    platform: str
    device_kind: str
    jax: str
    hawkzoo: str
    date: str
    seconds: float
    auto_picks: str
    backends: tuple[BackendReport, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "backends": [
                dataclasses.asdict(report) | {"verified": report.verified}
                for report in self.backends
            ]
        }

    def table(self) -> str:
        lines = [
            f"hawkzoo doctor: {self.device_kind} ({self.platform}), JAX {self.jax}, "
            f"hawkzoo {self.hawkzoo}, {self.date}, {self.seconds:.0f} s",
            "",
            f"{'backend':<26} {'checks':<26} verified",
        ]
        for report in self.backends:
            lines.append(f"{_label(report):<26} {_tally(report):<26} {_verdict(report)}")
        failures = [
            f"  {_label(report)}, {check.case}: {check.outcome}: {check.detail}"
            for report in self.backends
            for check in report.checks
            if check.outcome in ("failed", "error")
        ]
        if failures:
            lines += ["", "failures:", *failures]
        timed = [(report, timing) for report in self.backends for timing in report.timings]
        if timed:
            lines += [
                "",
                f"{'timed (batch-major, vmapped)':<26} {'shape':<18} {'dtype':<9} "
                f"{'fwd ms':>9} {'fwd+bwd ms':>11} {'GB/s':>8} {'of copy':>8}",
            ]
            for report, t in timed:
                lines.append(
                    f"{_label(report):<26} {t.shape!s:<18} {t.dtype:<9} {t.forward_ms:>9.3f} "
                    f"{t.backward_ms:>11.3f} {t.gb_per_s:>8.1f} {t.of_copy:>8.2f}"
                )
        for report in self.backends:
            for m in report.models:
                lines.append(
                    f"{m['preset']} with {_label(report)}: train step {m['train_step_ms']:.1f} "
                    f"ms ({m['rows']} × {m['length']} tokens), decoding "
                    f"{m['decode_ms_per_token']:.2f} ms a token"
                )
        lines += ["", f"auto picks here: {self.auto_picks}"]
        return "\n".join(lines)


def verify(
    names: Sequence[str] | None = None,
    *,
    interpret: bool = False,
    timing: bool = True,
    models: Sequence[str] = (),
    repetitions: int = 5,
    cache: bool = True,
) -> Verification:
    """Checks every registered backend (or those in `names`) against the float64 oracle
    on this machine's default device, then times those that agreed.

    - The checks: values and gradients of `h` and `h_last` on fixed problems (float32,
      bfloat16 and complex64; `h0` and resets; reversed; 129 channels; 4096 steps of two
      rows, which a kernel splits in time; 270 rows, which it splits by rows). A backend
      that refuses a problem (complex inputs for the kernels) says why; that is no failure.
    - `interpret`: also the Pallas kernels for other hardware in their interpreters, on the
      four small problems (both in 14 s on 2 CPU cores). Interpreted runs are never trusted.
    - `timing`: forward and forward+backward times of the scan at three or four
      batch-major shapes, their bandwidth and its ratio to a copy's.
    - `models`: presets also timed per verified backend: a training step (2 rows of 256
      tokens on CPU, 8 of 2048 elsewhere) and a 64-token greedy decoding loop.
    - `cache`: record which backends were verified natively, for `auto` (see
      [`Auto`][hawkzoo.backends.Auto]); `$HAWKZOO_DOCTOR_CACHE=0` turns the cache off.
    """
    start = time.perf_counter()
    chosen = [name for name in (names or registered()) if name != "auto"]
    runs = [(get(name), True) for name in chosen]
    if interpret:
        runs += [
            (kernel, False)
            for kernel in (PallasGPU(interpret=True, block_steps=8), PallasTPU(interpret=True))
            if kernel.name in chosen and kernel.kernel_for != _platform.target_platform()
        ]
    reports = [_report(backend, native, timing, models, repetitions) for backend, native in runs]
    if cache:
        _trust.remember({r.name: r.verified for r in reports if r.native and r.refused is None})
    probe = jnp.ones((2, 1))
    with warnings.catch_warnings():  # what auto passes over is in the report already
        warnings.simplefilter("ignore", ScanBackendFallbackWarning)
        auto_picks = get("auto").select(probe, probe).name
    key = _trust.here()
    return Verification(
        platform=_platform.target_platform(),
        device_kind=key["device_kind"],
        jax=key["jax"],
        hawkzoo=key["hawkzoo"],
        date=datetime.date.today().isoformat(),
        seconds=time.perf_counter() - start,
        auto_picks=auto_picks,
        backends=tuple(reports),
    )


def _report(backend, native: bool, timing: bool, models: Sequence[str], repetitions: int):
    probe = jnp.ones((2, 128))
    refused = backend.unsupported_reason(probe, probe)
    if refused is not None:
        return BackendReport(backend.name, native, refused)
    checks = tuple(_check(backend, case) for case in (CASES if native else INTERPRETED_CASES))
    report = BackendReport(backend.name, native, None, checks)
    if not report.verified:
        return report
    return dataclasses.replace(
        report,
        timings=tuple(_timings(backend, repetitions)) if timing else (),
        models=tuple(_time_model(preset, backend) for preset in models),
    )


def _check(backend: AbstractScanBackend, case: Case) -> Check:
    channels = (case.rows, case.channels) if case.rows else (case.channels,)
    problem = _oracle.problem(
        case.seed, case.steps, channels, DTYPES[case.dtype], regime=case.regime
    )
    row = (problem.a[:, 0], problem.x[:, 0]) if case.rows else (problem.a, problem.x)
    refused = backend.unsupported_reason(*row)
    if refused is not None:
        return Check(case.name, "refused", refused)
    scan = scan_rows if case.rows else linear_scan
    try:
        outputs = jax.block_until_ready(
            forward_and_vjp(problem, backend=backend, reverse=case.reverse, scan=scan)
        )
    except Exception as error:  # reported, not raised: the doctor goes on to the next case
        return Check(case.name, "error", f"{type(error).__name__}: {_first_line(error)}")
    found = _oracle.mismatches(problem, outputs, case.reverse)
    if found:
        return Check(case.name, "failed", "; ".join(f"{k}: {v}" for k, v in found.items()))
    return Check(case.name, "passed")


@partial(jax.jit, static_argnames=("backend", "reverse", "scan"))
def forward_and_vjp(problem: _oracle.Problem, *, backend, reverse: bool, scan=linear_scan):
    """`scan`'s `(h, h_last)` on `problem` and the VJP of its cotangents: `(da, dx, dh0)`."""

    def run(a, x, h0):
        return scan(a, x, h0=h0, reset=problem.reset, reverse=reverse, backend=backend)

    (h, h_last), vjp = jax.vjp(run, problem.a, problem.x, problem.h0)
    return (h, h_last), vjp((problem.dh, problem.dh_last))


def scan_rows(a, x, *, h0, reset, reverse, backend):
    """`linear_scan` of each row along axis 1 of `a` and `x` (and axis 0 of `h0`), vmapped."""

    def row(a, x, h0):
        return linear_scan(a, x, h0=h0, reset=reset, reverse=reverse, backend=backend)

    return jax.vmap(row, in_axes=(1, 1, 0), out_axes=(1, 0))(a, x, h0)


def _timings(backend: AbstractScanBackend, repetitions: int):
    platform = "cpu" if _platform.target_platform() == "cpu" else "accelerator"
    for shape, dtype in TIMED[platform]:
        a, x, dh = (
            jax.random.uniform(jax.random.key(i), shape, minval=0.9, maxval=0.999).astype(dtype)
            for i in range(3)
        )
        scan = jax.vmap(partial(linear_scan, backend=backend))
        copy = _median_time(jax.jit(jnp.negative), (a,), repetitions)
        forward = _median_time(jax.jit(scan), (a, x), repetitions)
        backward = _median_time(jax.jit(partial(_pulled_back, scan)), (a, x, dh), repetitions)
        bandwidth = 3 * a.nbytes / forward  # reads a and x, writes h
        copy_bandwidth = 2 * a.nbytes / copy
        yield Timing(
            shape, dtype, 1e3 * forward, 1e3 * backward, bandwidth / 1e9, bandwidth / copy_bandwidth
        )


def _pulled_back(scan: Callable, a, x, dh):
    """The forward pass of `scan`, then its VJP of `dh` (and zeros for `h_last`)."""
    (_, h_last), pullback = jax.vjp(scan, a, x)
    return pullback((dh, jnp.zeros_like(h_last)))


def _median_time(fn: Callable, args: tuple, repetitions: int) -> float:
    """Seconds a call of `fn` takes, the median of `repetitions` after a first (compiling) one."""
    jax.block_until_ready(fn(*args))
    seconds = []
    for _ in range(repetitions):
        begin = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds.append(time.perf_counter() - begin)
    return float(np.median(seconds))


def _time_model(preset: str, backend: AbstractScanBackend) -> dict[str, Any]:
    """One training step and a 64-token greedy decode of `preset`, run with `backend`."""
    # Imported here: the models, training and sampling are built on the backends.
    from .. import model as models, sampling, training
    from ..data import Batch

    rows, length = (2, 256) if _platform.target_platform() == "cpu" else (8, 2048)
    net = models.build(preset, key=jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(1), (1, rows, length + 1), 0, net.config.vocab_size)
    positions = jnp.broadcast_to(jnp.arange(length), (1, rows, length))
    batch = Batch(tokens[..., :-1], positions, tokens[..., 1:], jnp.ones((1, rows, length), bool))
    optimizer = optax.adamw(1e-4)
    state = [net, optimizer.init(eqx.filter(net, eqx.is_inexact_array))]

    def step():
        state[0], state[1], metrics = training.train_step(optimizer, state[0], state[1], batch)
        return metrics["loss"]

    def decode():
        return sampling.generate(state[0], [[1] * 16], max_new_tokens=64, temperature=0.0).tokens

    with use(backend):
        step_seconds = _median_time(step, (), 3)
        decode_seconds = _median_time(decode, (), 3)
    return {
        "preset": preset,
        "rows": rows,
        "length": length,
        "train_step_ms": 1e3 * step_seconds,
        "decode_ms_per_token": 1e3 * decode_seconds / 64,
    }


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"


def _label(report: BackendReport) -> str:
    return report.name if report.native else f"{report.name} (interpreter)"


def _tally(report: BackendReport) -> str:
    if report.refused is not None:
        return "cannot run here"
    counts = {o: sum(c.outcome == o for c in report.checks) for o in ("passed", "refused")}
    text = f"{counts['passed']} of {len(report.checks)} passed"
    return text + (f", {counts['refused']} refused" if counts["refused"] else "")


def _verdict(report: BackendReport) -> str:
    if report.refused is not None:
        return f"no: {report.refused}"
    if report.verified:
        return "yes"
    return "no: interpreter runs are not trusted" if not report.native else "NO: see failures"
