"""The `pallas_tpu` backend: a Pallas (Mosaic) kernel that keeps the state in VMEM."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu
from jaxtyping import Array

from . import _platform
from ._kernel_io import scan_in_blocks, unsupported_dtype_reason
from ._loop import AbstractLoopBackend
from ._registry import register

LANES = 128
PIPELINE_BUFFERS = 2


@register
class PallasTPU(AbstractLoopBackend):
    """The official Pallas scan's layout, for TPU.

    Channels are laid out as rows of 128 lanes; the grid runs over (batch, blocks of
    `rows` × 128 channels, blocks of `block_steps` time steps), time innermost and
    sequential. The state stays in a VMEM scratch buffer for the whole sequence while
    `a`, `x` and `h` move between HBM and VMEM a block at a time; each step is one vector
    multiply-add in float32. Time is padded to a multiple of `block_steps` (with `a = 1`,
    `x = 0`) and channels to a multiple of 128 inside the backend.

    On other platforms it runs only with `interpret=True` (Pallas's interpreter, for
    tests). Float32, bfloat16 and float16 inputs; complex and float64 are refused, as is a
    block that does not fit `vmem_budget_bytes` with its pipeline buffers.
    """

    name = "pallas_tpu"
    kernel_for = "tpu"
    block_steps: int = eqx.field(static=True, default=128)
    rows: int = eqx.field(static=True, default=8)
    vmem_budget_bytes: int = eqx.field(static=True, default=16 * 2**20)
    interpret: bool | pltpu.InterpretParams = eqx.field(static=True, default=False)

    def unsupported_reason(self, a: Array, x: Array) -> str | None:
        reason = unsupported_dtype_reason(x.dtype)
        if reason is not None:
            return reason
        platform = _platform.target_platform()
        if not self.interpret and platform != "tpu":
            return f"it needs a TPU, not {platform} (interpret=True runs it anywhere)"
        needed = self.block_bytes(x.dtype)
        if needed > self.vmem_budget_bytes:
            return (
                f"its blocks need {needed} bytes of VMEM, over the budget of "
                f"{self.vmem_budget_bytes}; lower block_steps or rows"
            )
        return None

    def block_bytes(self, dtype) -> int:
        """VMEM for one grid step: `a`, `x` and `h` blocks, pipelined, plus the state."""
        step = self.rows * LANES
        blocks = 3 * self.block_steps * step * jnp.dtype(dtype).itemsize * PIPELINE_BUFFERS
        return blocks + 3 * step * 4 * PIPELINE_BUFFERS

    def scan_along(
        self, a: Array, x: Array, h0: Array, *, axis: int, reverse: bool
    ) -> tuple[Array, Array]:
        block_steps = min(self.block_steps, -(-x.shape[axis] // 8) * 8)
        return scan_in_blocks(
            functools.partial(self._kernel_scan, block_steps=block_steps, reverse=reverse),
            a,
            x,
            h0,
            axis=axis,
            reverse=reverse,
            step_multiple=block_steps,
            channel_multiple=LANES,
        )

    def _kernel_scan(self, a: Array, x: Array, h0: Array, *, block_steps: int, reverse: bool):
        batch, steps, channels = x.shape
        row_count = channels // LANES
        rows = min(self.rows, row_count)
        a, x = (v.reshape(batch, steps, row_count, LANES) for v in (a, x))
        num_blocks = steps // block_steps

        def time_block(t):
            return num_blocks - 1 - t if reverse else t

        sequence = pl.BlockSpec(
            (1, block_steps, rows, LANES), lambda b, c, t: (b, time_block(t), c, 0)
        )
        state = pl.BlockSpec((1, rows, LANES), lambda b, c, t: (b, c, 0))
        h, h_last = pl.pallas_call(
            functools.partial(
                _kernel, block_steps=block_steps, num_blocks=num_blocks, reverse=reverse
            ),
            out_shape=(
                jax.ShapeDtypeStruct(x.shape, x.dtype),
                jax.ShapeDtypeStruct((batch, row_count, LANES), jnp.float32),
            ),
            grid=(batch, pl.cdiv(row_count, rows), num_blocks),
            in_specs=[sequence, sequence, state],
            out_specs=(sequence, state),
            scratch_shapes=[pltpu.VMEM((rows, LANES), jnp.float32)],
            compiler_params=pltpu.CompilerParams(
                dimension_semantics=("parallel", "parallel", "arbitrary")
            ),
            interpret=self.interpret,
        )(a, x, h0.reshape(batch, row_count, LANES))
        return h.reshape(batch, steps, channels), h_last.reshape(batch, channels)


def _kernel(
    a_ref, x_ref, h0_ref, h_ref, h_last_ref, state_ref, *, block_steps, num_blocks, reverse
):
    t = pl.program_id(2)

    @pl.when(t == 0)
    def _():
        state_ref[...] = h0_ref[0]

    def step(i, h):
        s = block_steps - 1 - i if reverse else i
        h = a_ref[0, s].astype(jnp.float32) * h + x_ref[0, s].astype(jnp.float32)
        h_ref[0, s] = h.astype(h_ref.dtype)
        return h

    h = lax.fori_loop(0, block_steps, step, state_ref[...])
    state_ref[...] = h

    @pl.when(t == num_blocks - 1)
    def _():
        h_last_ref[0] = h
