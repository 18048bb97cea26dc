"""The loss, one optimiser step (with gradient accumulation), and evaluation."""

from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int

from ..data import Batch
from ..model import LanguageModel
from ..sharding import batch_axis


def token_losses(
    model: LanguageModel, batch: Batch
) -> tuple[Float[Array, "batch seq"], Int[Array, "batch seq"]]:
    """Each position's negative log-likelihood of its target, in nats, and the prediction.

    Under `jax.set_mesh` with a `data` axis, rows are split over it."""
    logits, _ = jax.vmap(model, spmd_axis_name=batch_axis())(batch.tokens, batch.segment_pos)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    nll = -jnp.take_along_axis(log_probs, batch.targets[..., None], axis=-1)[..., 0]
    return nll, jnp.argmax(logits, axis=-1)


def _summed_loss(params, static, batch: Batch):
    nll, _ = token_losses(eqx.combine(params, static), batch)
    return jnp.sum(nll * batch.mask), jnp.sum(batch.mask)


@eqx.filter_jit(donate="all-except-first")
def train_step(
    optimizer: optax.GradientTransformation,
    model: LanguageModel,
    opt_state,
    batches: Batch,
    *,
    placement: tuple[Any, Any] | None = None,
):
    """One step on `batches` of shape `(accumulate, rows, seq)`: gradients of the mean loss
    over every counted target, summed micro-batch by micro-batch. `model`, `opt_state`
    and `batches` are donated: their buffers hold the result, so use only the returned
    ones.

    `placement`: the shardings of the updated model and optimiser state (trees as
    [`model_shardings`][hawkzoo.sharding.model_shardings] and
    [`optimizer_shardings`][hawkzoo.sharding.optimizer_shardings] give them), so that
    every step's outputs are placed as its inputs were; None leaves them to XLA."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    gradient = jax.value_and_grad(_summed_loss, has_aux=True)

    def accumulate(carry, batch):
        grads, loss, count = carry
        (batch_loss, batch_count), batch_grads = gradient(params, static, batch)
        return (
            jax.tree.map(jnp.add, grads, batch_grads),
            loss + batch_loss,
            count + batch_count,
        ), None

    zeros = jax.tree.map(jnp.zeros_like, params)
    (grads, loss, count), _ = jax.lax.scan(
        accumulate, (zeros, jnp.float32(0), jnp.int32(0)), batches
    )
    count = jnp.maximum(count, 1)
    grads = jax.tree.map(lambda g: g / count, grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    updated = cast(LanguageModel, eqx.combine(optax.apply_updates(params, updates), static))
    if placement is not None:
        updated, opt_state = eqx.filter_shard((updated, opt_state), placement)
    return updated, opt_state, {"loss": loss / count, "grad_norm": optax.tree.norm(grads)}


@eqx.filter_jit
def evaluate(model: LanguageModel, batch: Batch) -> dict[str, Array]:
    """Summed nats, counted targets and correct predictions over `batch`'s mask."""
    nll, predictions = token_losses(model, batch)
    return {
        "nats": jnp.sum(nll * batch.mask),
        "count": jnp.sum(batch.mask),
        "correct": jnp.sum((predictions == batch.targets) & batch.mask),
    }
