"""Bad input to `linear_scan` raises an error that names what is wrong."""

import jax.numpy as jnp
import numpy as np
import pytest

from hawkzoo import backends, linear_scan

A = jnp.full((5, 3), 0.5)
X = jnp.ones((5, 3))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"a": A[:, :2]}, ValueError, r"one shape, got a \(5, 2\) and x \(5, 3\)"),
        ({"a": A.astype(jnp.bfloat16)}, TypeError, "one dtype, got a bfloat16 and x float32"),
        (
            {"a": A.astype(jnp.int32)},
            TypeError,
            "a must be a floating or complex array, got dtype int32",
        ),
        ({"x": X.astype(bool)}, TypeError, "x must be a floating or complex array, got dtype bool"),
        ({"a": A[0, 0], "x": X[0, 0]}, ValueError, "leading time axis"),
        (
            {"h0": jnp.zeros(4)},
            ValueError,
            r"h0 must have the channel shape of x, \(3,\), got \(4,\)",
        ),
        ({"h0": jnp.zeros((5, 3))}, ValueError, "h0 must have the channel shape"),
        ({"h0": jnp.zeros(3, jnp.int32)}, TypeError, "h0 must be a floating or complex array"),
        ({"h0": jnp.zeros(3, jnp.complex64)}, TypeError, "h0 is complex"),
        (
            {"reset": jnp.zeros(5, jnp.int32)},
            TypeError,
            "reset must be a bool array, got dtype int32",
        ),
        (
            {"reset": jnp.zeros(4, bool)},
            ValueError,
            r"reset must have shape \(T,\) = \(5,\), got \(4,\)",
        ),
        ({"reset": jnp.zeros((5, 3), bool)}, ValueError, "reset must have shape"),
        (
            {"backend": "fastest"},
            ValueError,
            "unknown scan backend 'fastest'; registered: associative, auto",
        ),
    ],
    ids=lambda value: None if isinstance(value, dict | type | str) else str(value),
)
def test_rejected_with_a_message_naming_the_problem(kwargs, error, message):
    arguments = {"a": A, "x": X, **kwargs}
    with pytest.raises(error, match=message):
        linear_scan(arguments.pop("a"), arguments.pop("x"), **arguments)


def test_numpy_inputs_and_a_float32_initial_state_for_bfloat16_activations_are_accepted():
    h, h_last = linear_scan(np.asarray(A), np.asarray(X), h0=np.zeros(3, np.float32))
    assert h.dtype == jnp.float32 and jnp.allclose(h_last, 2 - 0.5**4)
    h, h_last = linear_scan(A.astype(jnp.bfloat16), X.astype(jnp.bfloat16), h0=jnp.ones(3))
    assert h.dtype == jnp.bfloat16 and h_last.dtype == jnp.float32


def test_an_empty_sequence_returns_the_initial_state():
    h, h_last = linear_scan(A[:0], X[:0], h0=jnp.ones(3), backend="chunked")
    assert h.shape == (0, 3) and jnp.array_equal(h_last, jnp.ones(3))


def test_chunk_size_is_validated():
    with pytest.raises(ValueError, match="chunk_size must be a positive int, got 0"):
        backends.Chunked(chunk_size=0)
