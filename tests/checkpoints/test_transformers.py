"""Exports read by transformers itself: its logits, and greedy tokens past the window,
equal hawkzoo's.

transformers and torch stay out of hawkzoo's environment: the test runs them in the Python
named by HAWKZOO_TRANSFORMERS_PYTHON (CI's slow step makes one), and is skipped without it.
"""

import os
import pathlib
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hawkzoo import checkpoints
from hawkzoo.model import LanguageModel, preset
from hawkzoo.sampling import generate

from ..official import small_config

PYTHON = os.environ.get("HAWKZOO_TRANSFORMERS_PYTHON", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PYTHON, reason="HAWKZOO_TRANSFORMERS_PYTHON names no Python with transformers"
    ),
]
CASES = {  # name: (config, adapt)
    "griffin": (small_config("griffin"), False),
    "hawk": (small_config("hawk", attention_window=None), False),
    "small-griffin, adapted": (preset("small-griffin"), True),  # the main job's model
    "tiny-hawk, adapted": (preset("tiny-hawk"), True),
}


def test_transformers_computes_what_hawkzoo_does_past_the_window(tmp_path):
    ours = {}
    for name, (config, adapt) in CASES.items():
        length = 4 * (config.attention_window or 4)  # four times the window
        tokens = np.asarray(jax.random.randint(jax.random.key(1), (2, length), 0, 64))
        model = LanguageModel(config, key=jax.random.key(0))
        folder = checkpoints.save_huggingface(tmp_path / name, model, adapt=adapt)
        np.save(folder / "tokens.npy", tokens)
        positions = jnp.broadcast_to(jnp.arange(length), tokens.shape)
        logits, _ = jax.vmap(model)(jnp.asarray(tokens), positions)
        greedy = generate(model, [tokens[0, :5].tolist()], max_new_tokens=8, temperature=0.0)
        ours[name] = np.asarray(logits), greedy.rows()[0]
    script = pathlib.Path(__file__).with_name("transformers_logits.py")
    run = subprocess.run(
        [PYTHON, str(script), *(str(tmp_path / name) for name in CASES)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    for name, (logits, greedy) in ours.items():
        theirs = np.load(tmp_path / name / "transformers.npz")
        np.testing.assert_allclose(theirs["logits"], logits, atol=1e-5, rtol=0, err_msg=name)
        if "attention" in CASES[name][0].block_types:
            assert theirs["greedy"].tolist() == list(greedy), name
