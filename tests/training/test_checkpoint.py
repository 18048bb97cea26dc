"""A run's managed checkpoints: the newest kept, sealed, structured, restored exactly, and
read as models."""

import equinox as eqx
import jax
import numpy as np
import optax

from hawkzoo.checkpoints import load
from hawkzoo.checkpoints._orbax import read_tree
from hawkzoo.model import build
from hawkzoo.training import RunCheckpoints, RunState


def _shifted(tree, step: int):
    """`tree` with `step` added to its float arrays: each step's arrays differ."""
    return jax.tree.map(lambda x: x + step if eqx.is_inexact_array(x) else x, tree)


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def test_the_newest_steps_are_kept_sealed_and_restored_exactly(tmp_path):
    """Saved in the background (every run's own checkpoints test the saves in the loop)."""
    model = build("tiny-hawk", key=jax.random.key(0), num_layers=1)
    tx = optax.adamw(1e-3)
    fresh = tx.init(eqx.filter(model, eqx.is_inexact_array))
    checkpoints = RunCheckpoints(tmp_path, keep=2, async_saves=True)
    saved = {}
    for step in range(1, 5):
        saved[step] = RunState(
            _shifted(model, step), _shifted(fresh, step), step, jax.random.key(step)
        )
        checkpoints.save(saved[step], {"config": {"steps": 4}})
    state = saved[4]
    checkpoints.close()
    steps = sorted(tmp_path.joinpath("checkpoints").iterdir())
    assert [p.name for p in steps] == ["3", "4"]
    assert all((p / "checksums.json").is_file() for p in steps)
    restored = RunCheckpoints(tmp_path, keep=2, async_saves=False).restore(fresh)
    assert restored.step == 4
    assert jax.tree.structure(restored.opt_state) == jax.tree.structure(fresh)
    for got, want in [
        (restored.model, state.model),
        (restored.opt_state, state.opt_state),
        (jax.random.key_data(restored.key), jax.random.key_data(state.key)),
        (load(tmp_path), state.model),  # the run folder: its latest step
        (load(steps[0]), saved[3].model),
    ]:
        pairs = list(zip(_leaves(got), _leaves(want), strict=True))
        assert pairs and all(np.array_equal(a, b) for a, b in pairs)
    adam = read_tree(steps[1] / "training")["opt_state"][0]  # saved by name, not by position
    assert set(adam) == {"count", "mu", "nu"} and "embedding" in adam["mu"]
