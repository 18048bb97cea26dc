"""AdamW with warm-up, cosine decay, clipping and a weight-decay mask."""

from collections.abc import Callable, Collection

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike

from ._config import TrainConfig


def learning_rate_schedule(config: TrainConfig) -> Callable[[ArrayLike], Array]:
    """Linear warm-up to `learning_rate`, then a cosine down to its final fraction."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=min(config.warmup_steps, config.steps - 1),
        decay_steps=config.steps,
        end_value=config.learning_rate * config.final_learning_rate_fraction,
    )
    return lambda step: jnp.asarray(schedule(step))


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """The run's optimiser, for the model's floating-point arrays."""
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(
            learning_rate_schedule(config),
            b1=config.b1,
            b2=config.b2,
            weight_decay=config.weight_decay,
            mask=lambda params: decay_mask(params, config.no_decay),
        ),
    )


def decay_mask(params, no_decay: Collection[str]):
    """True for every array to decay: all but those whose attribute name is in `no_decay`."""

    def decays(path, leaf) -> bool:
        last = path[-1]
        return getattr(last, "name", None) not in no_decay

    return jax.tree_util.tree_map_with_path(decays, params)
