"""The Pallas TPU kernel: what it refuses, that it lowers for TPU, the faithful interpreter.

Its values and gradients are checked with every other backend's, in Pallas's interpreter
(`problems.runnable`). Lowering is not compiling: Mosaic compiles only on a TPU.
"""

import jax
import jax.numpy as jnp
import pytest
from jax.experimental.pallas import tpu as pltpu

from hawkzoo import backends, linear_scan
from hawkzoo.backends import _platform, _trust

A = jnp.full((40, 3, 50), 0.9)
X = jnp.ones((40, 3, 50))


def test_it_refuses_what_it_cannot_run_and_says_why():
    with pytest.raises(backends.UnsupportedScanError, match="it needs a TPU, not cpu"):
        linear_scan(A, X, backend="pallas_tpu")
    kernel = backends.PallasTPU(interpret=True)
    with pytest.raises(backends.UnsupportedScanError, match="not complex64"):
        linear_scan(A.astype(jnp.complex64), X.astype(jnp.complex64), backend=kernel)
    oversized = backends.PallasTPU(interpret=True, block_steps=4096, rows=64)
    assert oversized.block_bytes(jnp.float32) > oversized.vmem_budget_bytes
    with pytest.raises(backends.UnsupportedScanError, match=r"need \d+ bytes of VMEM, over"):
        linear_scan(A, X, backend=oversized)


def test_auto_prefers_it_on_tpu_once_verified(monkeypatch, doctor_cache):
    monkeypatch.setattr(_platform, "target_platform", lambda: "tpu")
    monkeypatch.setattr(_platform, "device_kind", lambda: "TPU v5 lite")
    with pytest.warns(backends.ScanBackendFallbackWarning, match="'pallas_tpu' has not been"):
        assert backends.Auto().preferences(A, X)[0] == backends.Chunked()
    _trust.remember({"pallas_tpu": True})
    assert backends.Auto().preferences(A, X)[0] == backends.PallasTPU()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_forward_and_gradient_lower_for_tpu(dtype, monkeypatch):
    monkeypatch.setattr(_platform, "target_platform", lambda: "tpu")  # export targets one
    a, x = A.astype(dtype), X.astype(dtype)

    def loss(a, x, h0):
        h, h_last = jax.vmap(
            lambda a, x, h0: linear_scan(a, x, h0=h0, backend="pallas_tpu"), in_axes=(1, 1, 0)
        )(a, x, h0)
        return jnp.sum(h.astype(jnp.float32)) + jnp.sum(h_last)

    h0 = jnp.zeros((3, 50))
    for fn in (loss, jax.grad(loss, argnums=(0, 1, 2))):
        exported = jax.export.export(jax.jit(fn), platforms=("tpu",))(a, x, h0)
        assert "tpu_custom_call" in exported.mlir_module()


def test_the_hardware_faithful_interpreter_agrees():
    kernel = backends.PallasTPU(interpret=pltpu.InterpretParams(), block_steps=8)
    a = jax.random.uniform(jax.random.key(0), (20, 130))
    x = jax.random.normal(jax.random.key(1), (20, 130))
    h, h_last = linear_scan(a, x, backend=kernel)
    expected, expected_last = linear_scan(a, x, backend="sequential")
    assert jnp.allclose(h, expected, atol=1e-6) and jnp.allclose(h_last, expected_last, atol=1e-6)
