"""The oracle itself: its forward pass by hand, and its VJP as the transpose of its JVP."""

import numpy as np
import pytest

from hawkzoo.backends import _oracle as oracle


def test_forward_by_hand():
    a = np.array([[0.5], [0.0], [2.0]])
    x = np.array([[1.0], [3.0], [1.0]])
    h, h_last = oracle.scan(a, x, h0=np.array([4.0]))
    np.testing.assert_array_equal(h[:, 0], [3.0, 3.0, 7.0])
    h, _ = oracle.scan(a, x, h0=np.array([4.0]), reset=np.array([True, False, False]))
    np.testing.assert_array_equal(h[:, 0], [1.0, 3.0, 7.0])
    h, h_last = oracle.scan(a, x, reverse=True)
    np.testing.assert_array_equal(h[:, 0], [1.0 + 0.5 * 3.0, 3.0, 1.0])
    assert h_last[0] == 2.5


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_vjp_is_the_transpose_of_the_jvp(reverse, dtype):
    rng = np.random.default_rng(0)

    def draw(*shape):
        value = rng.normal(size=shape)
        return value + 1j * rng.normal(size=shape) if dtype is np.complex128 else value

    a, x, h0, va, vx, vh0, dh = (draw(9, 2) for _ in range(7))
    h0, vh0, dh_last = h0[0], vh0[0], draw(2)
    reset = rng.random(9) < 0.3
    a_kept = np.where(reset[:, None], 0, a)
    h, _ = oracle.scan(a, x, h0, reset, reverse)
    h_in = np.concatenate([h[1:], h0[None]]) if reverse else np.concatenate([h0[None], h[:-1]])
    # The scan is linear in (x, h0) and its derivative in a is a scan driven by va * h_{t-1}.
    jvp, jvp_last = oracle.scan(
        a_kept, vx + np.where(reset[:, None], 0, va) * h_in, vh0, None, reverse
    )
    da, dx, dh0 = oracle.scan_vjp(a, x, h0, dh, dh_last, reset, reverse)
    lhs = np.sum(dh * jvp) + np.sum(dh_last * jvp_last)
    rhs = np.sum(da * va) + np.sum(dx * vx) + np.sum(dh0 * vh0)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
