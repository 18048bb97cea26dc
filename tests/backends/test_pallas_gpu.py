"""The Mosaic GPU kernel: what it refuses, how it splits time, that it lowers for CUDA.

Its values and gradients are checked with every other backend's, in Pallas's GPU
interpreter (`problems.runnable`), on sequences long enough to be split into chunks and
too short to be. Lowering is not compiling: PTX is compiled only on a GPU.
"""

import warnings

import jax
import jax.numpy as jnp
import pytest

from hawkzoo import backends, linear_scan
from hawkzoo.backends import _platform, _trust

A = jnp.full((40, 3, 50), 0.9)
X = jnp.ones((40, 3, 50))

H200 = jax.sharding.AbstractMesh(
    (1,),
    ("x",),
    abstract_device=jax.sharding.AbstractDevice(
        device_kind="NVIDIA H200", num_cores=132, platform="gpu"
    ),
)


def on_gpu(monkeypatch, capability):
    monkeypatch.setattr(_platform, "target_platform", lambda: "gpu")
    monkeypatch.setattr(_platform, "device_kind", lambda: "NVIDIA H200")
    monkeypatch.setattr(_platform, "cuda_capability", lambda: capability)


def test_it_refuses_what_it_cannot_run_and_says_why(monkeypatch):
    with pytest.raises(backends.UnsupportedScanError, match="it needs an NVIDIA GPU, not cpu"):
        linear_scan(A, X, backend="pallas_gpu")
    kernel = backends.PallasGPU(interpret=True)
    with pytest.raises(backends.UnsupportedScanError, match="not complex64"):
        linear_scan(A.astype(jnp.complex64), X.astype(jnp.complex64), backend=kernel)
    oversized = backends.PallasGPU(interpret=True, block_steps=256, block_channels=256)
    assert oversized.block_bytes(jnp.float32) > oversized.smem_budget_bytes
    with pytest.raises(backends.UnsupportedScanError, match=r"need \d+ bytes of shared memory"):
        linear_scan(A, X, backend=oversized)
    on_gpu(monkeypatch, (8, 0))
    with pytest.raises(backends.UnsupportedScanError, match=r"this GPU has 8\.0"):
        linear_scan(A, X, backend="pallas_gpu")


@pytest.mark.parametrize(
    "field, value", [("block_steps", 0), ("block_steps", 257), ("block_channels", 96)]
)
def test_blocks_a_copy_cannot_move_are_refused_at_construction(field, value):
    with pytest.raises(ValueError, match=field):
        backends.PallasGPU(**{field: value})


def test_auto_runs_it_on_hopper_once_verified_and_falls_back_with_one_warning(
    monkeypatch, doctor_cache
):
    on_gpu(monkeypatch, (9, 0))
    with pytest.warns(backends.ScanBackendFallbackWarning, match="'pallas_gpu' has not been ver"):
        assert backends.Auto().select(A, X) == backends.Chunked()
    _trust.remember({"pallas_gpu": True})
    assert backends.Auto().select(A, X) == backends.PallasGPU()
    on_gpu(monkeypatch, (8, 6))
    with pytest.warns(backends.ScanBackendFallbackWarning, match=r"compute capability 9\.0"):
        assert backends.Auto().select(A, X) == backends.Chunked()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backends.Auto().select(A, X)


@pytest.mark.parametrize(
    "walks, steps, chunks",
    [(264, 4096, 1), (16, 4096, 16), (16, 1024, 4), (16, 300, 1), (1, 2**20, 264)],
)
def test_time_is_split_only_when_the_walks_cannot_fill_the_gpu(walks, steps, chunks):
    assert backends.PallasGPU().chunk_count(walks, steps) == chunks


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("min_chunk_steps", [256, 8], ids=["one_walk", "split"])
def test_forward_and_gradient_lower_for_cuda(dtype, min_chunk_steps, monkeypatch):
    on_gpu(monkeypatch, (9, 0))  # export targets one
    kernel = backends.PallasGPU(min_chunk_steps=min_chunk_steps)
    a, x = A.astype(dtype), X.astype(dtype)

    def loss(a, x, h0):
        h, h_last = jax.vmap(
            lambda a, x, h0: linear_scan(a, x, h0=h0, backend=kernel), in_axes=(1, 1, 0)
        )(a, x, h0)
        return jnp.sum(h.astype(jnp.float32)) + jnp.sum(h_last)

    h0 = jnp.zeros((3, 50))
    unchecked = [jax.export.DisabledSafetyCheck.custom_call("mosaic_gpu_v2")]
    for fn in (loss, jax.grad(loss, argnums=(0, 1, 2))):
        with jax.sharding.use_abstract_mesh(H200):
            exported = jax.export.export(
                jax.jit(fn), platforms=("cuda",), disabled_checks=unchecked
            )(a, x, h0)
        assert "@mosaic_gpu_v2" in exported.mlir_module()


@pytest.mark.parametrize("reverse", [False, True])
def test_rows_and_chunks_walked_in_parallel_equal_one_walk(reverse):
    split = backends.PallasGPU(interpret=True, block_steps=8, min_chunk_steps=8)
    a = jax.random.uniform(jax.random.key(0), (2, 44, 3))
    x = jax.random.normal(jax.random.key(1), (2, 44, 3))
    h0 = jax.random.normal(jax.random.key(2), (2, 3))
    assert split.chunk_count(2, 44) == 5  # of 9 steps, rounded up to 16: three chunks

    def value_and_grad(backend):
        def loss(a, x, h0):
            scan = lambda a, x, h0: linear_scan(a, x, h0=h0, reverse=reverse, backend=backend)
            h, h_last = jax.vmap(scan)(a, x, h0)
            return jnp.sum(h * x) + jnp.sum(h_last)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(a, x, h0)

    got, want = value_and_grad(split), value_and_grad("sequential")
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert jnp.allclose(g, w, rtol=1e-5, atol=1e-5)
