"""Fresh weights are drawn as the official implementation draws them."""

import jax
import jax.numpy as jnp
import pytest

from hawkzoo import backends
from hawkzoo.checkpoints import official_module, to_flax
from hawkzoo.model import LanguageModel

from ..backends.test_selection import traced_backends
from ..official import small_config


@pytest.mark.slow  # the official model initialised at width 128: 12 s
def test_every_parameter_has_the_official_initial_scale():
    config = small_config("griffin", width=128, mlp_width=384, lru_width=256, vocab_size=256)
    tokens = jnp.zeros((1, 4), jnp.int32)
    with jax.numpy_rank_promotion("allow"):
        init = jax.jit(official_module(config).init)
        official = init(jax.random.key(0), tokens, tokens)["params"]
    ours = to_flax(LanguageModel(config, key=jax.random.key(1)))
    flat_ours = dict(jax.tree.leaves_with_path(ours))
    for path, theirs in jax.tree.leaves_with_path(official):
        mine = flat_ours[path]
        name = jax.tree_util.keystr(path)
        if not theirs.any():
            assert not mine.any(), name
        elif "a_param" in name:  # the ring init: compare the decays it gives
            decay = lambda p: jnp.exp(-jax.nn.softplus(p))
            assert abs(decay(mine).mean() - decay(theirs).mean()) < 0.01, name
        else:
            assert abs(mine.std() / theirs.std() - 1) < 0.15, name
            assert abs(mine.mean()) < 0.2 * theirs.std(), name


def test_the_chosen_backend_reaches_every_recurrence_of_the_model():
    model = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    call = lambda tokens: model(tokens, jnp.arange(8))[0]
    for name in ("associative", "chunked"):
        with backends.use(name):
            assert traced_backends(call, jnp.arange(8)) == {name}
