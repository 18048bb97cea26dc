"""The sequence-parallel scan on simulated CPU devices, against the float64 oracle."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.sharding import PartitionSpec as P

from hawkzoo import linear_scan
from hawkzoo.backends import PallasGPU, sequence_parallel_scan

from ..pairwise import all_pairs
from .problems import case_id, check_against_oracle, problems, runnable_backends

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs 8 devices (the test suite simulates 8 on CPU)"
)

AUTO = jax.sharding.AxisType.Auto
MESHES = {  # time over all 8 devices, over 3, and beside a data axis (sharding left to GSPMD)
    "seq8": lambda: jax.make_mesh((8,), ("seq",)),
    "seq3": lambda: jax.make_mesh((3,), ("seq",), devices=jax.devices()[:3]),
    "data2-seq4-auto": lambda: jax.make_mesh((2, 4), ("data", "seq"), (AUTO, AUTO)),
}
SCANS = {name: partial(sequence_parallel_scan, mesh=mesh()) for name, mesh in MESHES.items()}
CASES = all_pairs(
    mesh=list(MESHES),
    steps=[24, 48, 264],
    channels=[(), (3,), (5, 2)],
    dtype=["float32", "bfloat16", "complex64"],
    with_h0=[False, True],
    with_reset=[False, True],
    reverse=[False, True],
)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@given(data=st.data())
def test_matches_oracle(case, data):
    problem = data.draw(
        problems(
            case["steps"],
            case["channels"],
            case["dtype"],
            with_h0=case["with_h0"],
            with_reset=case["with_reset"],
        )
    )
    check_against_oracle(problem, "sequential", case["reverse"], scan=SCANS[case["mesh"]])


@pytest.mark.parametrize("backend", runnable_backends())
@pytest.mark.parametrize("reverse", [False, True])
@given(data=st.data())
def test_every_backend_scans_the_slices(backend, reverse, data):
    if isinstance(backend, PallasGPU) and backend.interpret:
        pytest.skip("Pallas's GPU interpreter fails on several simulated devices at once")
    problem = data.draw(problems(48, (3,), "float32"))
    check_against_oracle(problem, backend, reverse, scan=SCANS["seq8"])


def test_batched_under_vmap_equals_one_device():
    a = jax.random.uniform(jax.random.key(0), (4, 32, 3))
    x = jax.random.normal(jax.random.key(1), (4, 32, 3))
    scan = partial(sequence_parallel_scan, mesh=MESHES["data2-seq4-auto"]())
    h, h_last = jax.jit(jax.vmap(scan))(a, x)
    expected, expected_last = jax.vmap(linear_scan)(a, x)
    np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last, expected_last, rtol=1e-5, atol=1e-6)


def test_the_output_is_split_over_time():
    mesh = MESHES["seq8"]()
    h, h_last = jax.jit(partial(sequence_parallel_scan, mesh=mesh))(
        jnp.ones((16, 2)), jnp.ones((16, 2))
    )
    assert h.sharding.spec[0] == "seq" and len(h.sharding.device_set) == 8
    assert h_last.sharding.is_fully_replicated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axis": "model"}, "mesh has no axis 'model'; its axes are ('seq',)"),
        ({"steps": 12}, "sequence length (12,) must divide evenly over mesh axis 'seq' of size 8"),
        ({"h0": jnp.zeros(3)}, "h0 must have the channel shape of x"),
        ({"reset": jnp.zeros(16)}, "reset must be a bool array"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    steps = kwargs.pop("steps", 16)
    with pytest.raises((ValueError, TypeError)) as error:
        sequence_parallel_scan(
            jnp.ones((steps, 2)), jnp.ones((steps, 2)), mesh=MESHES["seq8"](), **kwargs
        )
    assert message in str(error.value)


def test_channels_split_over_a_second_axis():
    mesh = jax.make_mesh((4, 2), ("seq", "model"), (AUTO, AUTO))
    a = jax.random.uniform(jax.random.key(0), (32, 6))
    x = jax.random.normal(jax.random.key(1), (32, 6))
    scan = partial(sequence_parallel_scan, mesh=mesh, channel_axis="model")
    h, h_last = jax.jit(scan)(a, x, h0=jnp.ones(6))
    expected, expected_last = linear_scan(a, x, h0=jnp.ones(6))
    np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last, expected_last, rtol=1e-5, atol=1e-6)
    assert h.sharding.spec == P("seq", "model") and h_last.sharding.spec == P("model")
    with pytest.raises(ValueError, match=r"channels \(5,\) must divide evenly over mesh axis "
                       "'model' of size 2"):  # fmt: skip
        scan(jnp.ones((32, 5)), jnp.ones((32, 5)))
