"""The `pallas_gpu` backend: a Mosaic GPU kernel that streams time through shared memory."""

import functools
import math
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jaxtyping import Array

from ..errors import InputError
from . import _platform
from ._kernel_io import scan_in_blocks, unsupported_dtype_reason
from ._loop import AbstractLoopBackend
from ._registry import register
from ._two_level import carry_along, two_level_scan

if TYPE_CHECKING:  # Mosaic GPU takes seconds to import: only a walk on a GPU needs it
    from jax.experimental.pallas import mosaic_gpu as plgpu

WARPGROUP = 128  # CUDA threads in one Mosaic GPU thread; a channel block is a multiple
MAX_COPY = 256  # elements along each dimension of one TMA copy
SLOTS = 2  # blocks of `a`, `x` and `h` in shared memory: one computed, one in flight


@register
class PallasGPU(AbstractLoopBackend):
    """A Mosaic GPU kernel for Hopper (sm_90) and newer NVIDIA GPUs.

    Each walk owns `block_channels` channels of one row and steps through time in blocks
    of `block_steps`: the tensor-memory accelerator (TMA) copies the next block of `a` and
    `x` into shared memory while the 128 threads of a warpgroup step through the current
    one with the state in registers (one float32 multiply-add per step), and the block of
    `h` goes back to global memory asynchronously. `a` and `x` are read once, `h` written
    once.

    When rows × channel blocks give fewer than `parallel_walks` walks, too few to fill the
    GPU, time is also split into chunks of at least `min_chunk_steps` steps walked in
    parallel: a first pass reduces each chunk to its decay and final state from zero, a
    scan over the chunks gives each its initial state, and a second pass rescans every
    chunk from it (the two-level plan of `chunked`, with the kernel as its passes).

    On other platforms it runs only with `interpret` set (Pallas's GPU interpreter, for
    tests). Float32, bfloat16 and float16 inputs; complex and float64 are refused, as are
    blocks over `smem_budget_bytes` of shared memory.
    """

    name = "pallas_gpu"
    kernel_for = "gpu"
    block_steps: int = eqx.field(static=True, default=32)
    block_channels: int = eqx.field(static=True, default=128)
    parallel_walks: int = eqx.field(static=True, default=264)
    min_chunk_steps: int = eqx.field(static=True, default=256)
    smem_budget_bytes: int = eqx.field(static=True, default=227 * 1024)
    interpret: "bool | plgpu.InterpretGPUParams" = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not 1 <= self.block_steps <= MAX_COPY:
            raise InputError(f"block_steps must be in [1, {MAX_COPY}], got {self.block_steps}")
        if self.block_channels not in range(WARPGROUP, MAX_COPY + 1, WARPGROUP):
            raise InputError(
                f"block_channels must be a multiple of {WARPGROUP} up to {MAX_COPY}, "
                f"got {self.block_channels}"
            )

    def unsupported_reason(self, a: Array, x: Array) -> str | None:
        reason = unsupported_dtype_reason(x.dtype)
        if reason is not None:
            return reason
        if not self.interpret:
            capability = _platform.cuda_capability()
            if capability is None:
                return (
                    f"it needs an NVIDIA GPU, not {_platform.target_platform()} "
                    "(interpret=True runs it anywhere)"
                )
            if capability < (9, 0):
                return (
                    "Mosaic GPU needs compute capability 9.0 (Hopper) or newer, "
                    f"this GPU has {capability[0]}.{capability[1]}"
                )
        needed = self.block_bytes(x.dtype)
        if needed > self.smem_budget_bytes:
            return (
                f"its blocks need {needed} bytes of shared memory, over the budget of "
                f"{self.smem_budget_bytes}; lower block_steps or block_channels"
            )
        return None

    def block_bytes(self, dtype) -> int:
        """Shared memory for one walk: `a`, `x` and `h` blocks in flight, plus the states."""
        block = self.block_steps * self.block_channels * jnp.dtype(dtype).itemsize
        return 3 * SLOTS * block + 2 * self.block_channels * 4

    def scan_along(
        self, a: Array, x: Array, h0: Array, *, axis: int, reverse: bool
    ) -> tuple[Array, Array]:
        shape = x.shape
        rows, steps = math.prod(shape[:axis]), shape[axis]
        channel_blocks = -(-math.prod(shape[axis + 1 :]) // self.block_channels)
        chunks = self.chunk_count(rows * channel_blocks, steps)
        chunk_steps = -(-steps // chunks)
        chunk_steps += -chunk_steps % self.block_steps
        chunks = -(-steps // chunk_steps)
        return scan_in_blocks(
            functools.partial(self._chunked_walks, chunks=chunks, reverse=reverse),
            a,
            x,
            h0,
            axis=axis,
            reverse=reverse,
            step_multiple=chunks * chunk_steps,
            channel_multiple=self.block_channels,
        )

    def chunk_count(self, walks: int, steps: int) -> int:
        """How many chunks time is split into when `walks` walks alone would not fill the GPU."""
        if walks >= self.parallel_walks:
            return 1
        return max(1, min(-(-self.parallel_walks // walks), steps // self.min_chunk_steps))

    def _chunked_walks(self, a: Array, x: Array, h0: Array, *, chunks: int, reverse: bool):
        if chunks == 1:
            return self._walk(a, x, h0, reverse=reverse, summarize=False)
        rows, steps, channels = x.shape
        a, x = (v.reshape(rows * chunks, steps // chunks, channels) for v in (a, x))
        zeros = jnp.zeros((rows * chunks, channels), jnp.float32)

        def summarize():
            decay, local_last = self._walk(a, x, zeros, reverse=reverse, summarize=True)
            return decay.reshape(rows, chunks, channels), local_last.reshape(rows, chunks, channels)

        def rescan(starts):
            h, _ = self._walk(a, x, starts.reshape(rows * chunks, channels), reverse=reverse)
            return h.reshape(rows, steps, channels)

        return two_level_scan(summarize, carry_along(1, reverse), rescan, h0)

    def _walk(self, a: Array, x: Array, h0: Array, *, reverse: bool, summarize: bool = False):
        """One kernel launch: `(h, h_last)`, or `(decay, h_last)` when `summarize`."""
        from jax.experimental.pallas import mosaic_gpu as plgpu

        rows, steps, channels = x.shape
        state = jax.ShapeDtypeStruct((rows, channels), jnp.float32)
        sequence = jax.ShapeDtypeStruct(x.shape, x.dtype)
        block = (self.block_steps, self.block_channels)
        return plgpu.kernel(
            functools.partial(
                _walk_kernel,
                block_steps=self.block_steps,
                block_channels=self.block_channels,
                num_blocks=steps // self.block_steps,
                reverse=reverse,
                summarize=summarize,
            ),
            out_type=(state if summarize else sequence, state),
            scratch_types=(
                plgpu.SMEM((SLOTS, *block), a.dtype),
                plgpu.SMEM((SLOTS, *block), x.dtype),
                plgpu.SMEM((SLOTS, *block), x.dtype),
                plgpu.SMEM((2, self.block_channels), jnp.float32),
                plgpu.Barrier(num_arrivals=2, num_barriers=SLOTS),
                plgpu.Barrier(num_arrivals=1),
            ),
            grid=(rows, channels // self.block_channels),
            grid_names=("rows", "channel_blocks"),
            interpret=plgpu.InterpretGPUParams() if self.interpret is True else self.interpret,
        )(a, x, h0)


def _walk_kernel(
    a_gmem,
    x_gmem,
    h0_gmem,
    out_gmem,
    h_last_gmem,
    a_smem,
    x_smem,
    h_smem,
    state_smem,
    loaded,
    h0_loaded,
    *,
    block_steps,
    block_channels,
    num_blocks,
    reverse,
    summarize,
):
    """One warpgroup's walk over time: the next block is fetched while this one is stepped.

    Blocks alternate between two shared-memory slots; `loaded` signals a slot's `a` and `x`
    have arrived, and a slot's `h` is reused only once its previous copy-out has read it.
    """
    from jax.experimental.pallas import mosaic_gpu as plgpu

    row = lax.axis_index("rows")
    channels = pl.ds(lax.axis_index("channel_blocks") * block_channels, block_channels)

    def steps_of(t):
        block = num_blocks - 1 - t if reverse else t
        return pl.ds(block * block_steps, block_steps)

    def fetch(t, slot):
        plgpu.copy_gmem_to_smem(
            a_gmem.at[row, steps_of(t), channels], a_smem.at[slot], loaded.at[slot]
        )
        plgpu.copy_gmem_to_smem(
            x_gmem.at[row, steps_of(t), channels], x_smem.at[slot], loaded.at[slot]
        )

    plgpu.copy_gmem_to_smem(h0_gmem.at[row, channels], state_smem.at[0], h0_loaded)
    fetch(0, 0)
    plgpu.barrier_wait(h0_loaded)

    def block(t, carry):
        slot = lax.rem(t, SLOTS)

        @pl.when(t + 1 < num_blocks)
        def _():
            fetch(t + 1, 1 - slot)

        plgpu.barrier_wait(loaded.at[slot])
        a_block, x_block, h_block = a_smem.at[slot], x_smem.at[slot], h_smem.at[slot]
        if not summarize:
            plgpu.wait_smem_to_gmem(SLOTS - 1, wait_read_only=True)  # h_block is free

        def step(i, carry):
            decay, h = carry
            s = block_steps - 1 - i if reverse else i
            a_s = a_block[s].astype(jnp.float32)
            h = a_s * h + x_block[s].astype(jnp.float32)
            if summarize:
                return a_s * decay, h
            h_block[s] = h.astype(h_block.dtype)
            return decay, h

        carry = lax.fori_loop(0, block_steps, step, carry, unroll=True)
        if not summarize:
            plgpu.commit_smem()
            plgpu.copy_smem_to_gmem(h_block, out_gmem.at[row, steps_of(t), channels])
            plgpu.commit_smem_to_gmem_group()
        return carry

    ones = jnp.ones((block_channels,), jnp.float32)
    decay, h = lax.fori_loop(0, num_blocks, block, (ones, state_smem[0]))
    state_smem[0] = h
    state_smem[1] = decay
    plgpu.commit_smem()
    plgpu.copy_smem_to_gmem(state_smem.at[0], h_last_gmem.at[row, channels])
    if summarize:
        plgpu.copy_smem_to_gmem(state_smem.at[1], out_gmem.at[row, channels])
    plgpu.commit_smem_to_gmem_group()
    plgpu.wait_smem_to_gmem(0)
