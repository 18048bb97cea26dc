"""Held-out loss by position, read whole or in windows."""

import jax
import numpy as np
import pytest

from hawkzoo.data import Document
from hawkzoo.errors import InputError
from hawkzoo.model import build
from hawkzoo.training import loss_by_position

LENGTH, WINDOW = 64, 16
DOCUMENTS = tuple(
    Document(f"doc{i}", np.random.default_rng(i).integers(32, 127, 80).astype(np.uint8).tobytes())
    for i in range(3)
)


def _model(name: str, **changes):
    return build(name, key=jax.random.key(0), num_layers=2, **changes)


def test_a_model_that_looks_back_under_half_a_window_scores_the_same_read_in_windows():
    model = _model("tiny-mqa", attention_window=WINDOW // 4)
    whole = loss_by_position(model, DOCUMENTS, LENGTH)
    windowed = loss_by_position(model, DOCUMENTS, LENGTH, window=WINDOW)
    np.testing.assert_allclose(windowed, whole, rtol=1e-5, atol=1e-6)


def test_a_recurrence_differs_past_the_first_window_only():
    model = _model("tiny-hawk")
    whole = loss_by_position(model, DOCUMENTS, LENGTH)
    windowed = loss_by_position(model, DOCUMENTS, LENGTH, window=WINDOW)
    assert whole.shape == windowed.shape == (LENGTH,)
    np.testing.assert_allclose(windowed[:WINDOW], whole[:WINDOW], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(windowed[WINDOW:] - whole[WINDOW:]) > 1e-6)
    np.testing.assert_array_equal(loss_by_position(model, DOCUMENTS, LENGTH, window=LENGTH), whole)


@pytest.mark.parametrize("window", [3, 24, 128])
def test_a_window_that_does_not_tile_the_length_is_refused(window):
    with pytest.raises(InputError, match=f"window={window} must be even"):
        loss_by_position(_model("tiny-hawk"), DOCUMENTS, LENGTH, window=window)
