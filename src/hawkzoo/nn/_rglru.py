"""The Real-Gated Linear Recurrent Unit (RG-LRU) and its complex-gated variant (CG-LRU)."""

import functools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ..backends import AbstractScanBackend, AbstractScanLayer, accumulation_dtype, get
from ..backends._sequence_parallel import mesh_linear_scan
from ..errors import InputError
from ._linear import BlockDiagonalLinear

DECAY_EXPONENT = 8.0
"""The constant $c$ in $a_t = a^{c r_t}$."""

MAX_SQRT_GRADIENT = 1000.0
"""The bound on $|d\\sqrt{u}/du|$ in the backward pass of the input normalisation."""


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def sqrt_bounded_gradient(u: ArrayLike, max_gradient: float) -> Array:
    """`sqrt(u)`, whose derivative is evaluated at `max(u, 1 / (4 max_gradient²))`."""
    del max_gradient
    return jnp.sqrt(u)


def _sqrt_forward(u: ArrayLike, max_gradient: float) -> tuple[Array, ArrayLike]:
    del max_gradient
    return jnp.sqrt(u), u


def _sqrt_backward(max_gradient: float, u: ArrayLike, g: Array) -> tuple[Array]:
    floor = jnp.maximum(u, 1 / (4 * max_gradient**2))
    return jax.vjp(jnp.sqrt, floor)[1](g)


sqrt_bounded_gradient.defvjp(_sqrt_forward, _sqrt_backward)


def ring_decay_parameter(
    key: PRNGKeyArray, shape: tuple[int, ...], min_rad: float, max_rad: float, *, dtype
) -> Array:
    """Λ such that `a = σ(-Λ)` has `a²` uniform in `[min_rad², max_rad²]`."""
    u = jr.uniform(key, shape)
    log_a = 0.5 * jnp.log(u * (max_rad**2 - min_rad**2) + min_rad**2 + 1e-8)
    return jnp.log(jnp.exp(-log_a) - 1.0).astype(dtype)


class RGLRU(AbstractScanLayer):
    r"""The RG-LRU: a diagonal linear recurrence whose decay and input are gated by $x_t$.

    $$
    \begin{aligned}
    r_t &= \sigma(W_a x_t + b_a), \quad i_t = \sigma(W_x x_t + b_x), \\
    \log a_t &= -c \, r_t \, \operatorname{softplus}(\Lambda), \quad c = 8, \\
    h_t &= a_t \odot h_{t-1} + \sqrt{1 - a_t^2} \odot (i_t \odot x_t).
    \end{aligned}
    $$

    This is the official code's sign of Λ (`a = σ(-Λ)`, the paper writes `σ(Λ)`). Where
    `segment_pos == 0` a document starts: $h_{t-1}$ is dropped and the normalisation is 1,
    so $h_t = i_t \odot x_t$. The gradient of the square root is bounded by 1000 (it keeps
    bfloat16 training finite). Gates compute in the input's dtype; the state and the scan
    accumulate in float32. The complex variant runs its recurrence in complex64.

    With `complex_gates=True` this is the CG-LRU of the paper's Appendix B, as the official
    code writes it: the input's first half is the real part and its second half the
    imaginary part of $\tilde x_t$; $\log \tilde a_t = \log a_t + i \, r_t \theta$; the
    output is merged back the same way. The gates then have `width / 2` outputs.

    Λ is drawn so that $a = \sigma(-\Lambda)$ lies on a ring, $a^2 \sim U[0.81, 0.998]$
    (the code's init; the paper says $a^c$, which the code does not do); θ ~ U[0, 0.1π).

    `backend` (None: the current default) is the scan backend this layer always uses
    (a registered name or an instance; see
    [`set_backend`][hawkzoo.backends.set_backend] for a built model).
    Under `jax.set_mesh` with a `seq` axis the scan splits time over it
    ([`sequence_parallel_scan`][hawkzoo.backends.sequence_parallel_scan]).
    """

    input_gate: BlockDiagonalLinear
    decay_gate: BlockDiagonalLinear
    decay_param: Float[Array, " state"]
    phase_param: Float[Array, " state"] | None
    backend: AbstractScanBackend | None

    def __init__(
        self,
        width: int,
        num_blocks: int,
        *,
        complex_gates: bool = False,
        min_rad: float = 0.9,
        max_rad: float = 0.999,
        backend: str | AbstractScanBackend | None = None,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        if complex_gates and width % 2:
            raise InputError(f"width must be even for complex gates, got {width}")
        state_width = width // 2 if complex_gates else width
        input_key, decay_key, param_key, phase_key = jr.split(key, 4)
        self.input_gate = BlockDiagonalLinear(
            width, state_width, num_blocks, dtype=dtype, key=input_key
        )
        self.decay_gate = BlockDiagonalLinear(
            width, state_width, num_blocks, dtype=dtype, key=decay_key
        )
        self.decay_param = ring_decay_parameter(
            param_key, (state_width,), min_rad, max_rad, dtype=dtype
        )
        self.phase_param = (
            (math.pi * 0.1 * jr.uniform(phase_key, (state_width,))).astype(dtype)
            if complex_gates
            else None
        )
        self.backend = None if backend is None else get(backend)

    @property
    def complex_gates(self) -> bool:
        return self.phase_param is not None

    def __call__(
        self,
        x: Float[Array, "seq width"],
        segment_pos: Int[Array, " seq"],
        state: Float[Array, " width"] | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq width"], Float[Array, "*steps width"]]:
        """Returns every output and the final state (float32), ready to continue from;
        with `history`, instead of the final state, the state before the first token and
        after each one (`[1 + seq, width]`, all float32, to roll back to)."""
        gate_x = jax.nn.sigmoid(self.input_gate(x))
        gate_a = jax.nn.sigmoid(self.decay_gate(x))
        log_a = -DECAY_EXPONENT * gate_a * jax.nn.softplus(self.decay_param)[None]
        a_squared = jnp.exp(2 * log_a)
        dtype = x.dtype
        if self.phase_param is not None:
            phase = self.phase_param[None] * gate_a
            log_a = jax.lax.complex(log_a.astype(jnp.float32), phase.astype(jnp.float32))
            x, state = _to_complex(x), None if state is None else _to_complex(state)
        a = jnp.exp(log_a)
        reset = segment_pos == 0
        multiplier = jnp.where(
            reset[:, None], 1, sqrt_bounded_gradient(1 - a_squared, MAX_SQRT_GRADIENT)
        )
        normalized_x = x * gate_x * multiplier.astype(x.dtype)
        if history:  # every state in the accumulation dtype, not only the last
            a, normalized_x = (v.astype(accumulation_dtype(v.dtype)) for v in (a, normalized_x))
        h0 = jnp.zeros_like(normalized_x[0]) if history and state is None else state
        h, h_last = mesh_linear_scan(a, normalized_x, h0=h0, reset=reset, backend=self.backend)
        if h0 is not None and history:
            h_last = jnp.concatenate([h0[None].astype(h.dtype), h])
        if self.phase_param is not None:
            return _to_merged(h).astype(dtype), _to_merged(h_last)
        return h.astype(dtype), h_last


def _to_complex(merged: Array) -> Array:
    real, imag = jnp.split(merged, 2, axis=-1)
    return jax.lax.complex(real.astype(jnp.float32), imag.astype(jnp.float32))


def _to_merged(z: Array) -> Array:
    return jnp.concatenate([z.real, z.imag], axis=-1)
