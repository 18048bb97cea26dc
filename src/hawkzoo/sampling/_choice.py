"""How one token is chosen from a row of logits: greedy, temperature, top-k and top-p."""

import dataclasses
import typing

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._checks import check_fields, integer, number, optional


@typing.no_type_check  # its own checks name the field, ahead of any type checker
@dataclasses.dataclass(frozen=True)
class TokenChoice:
    """The rule that picks each next token (hashable: it is part of the compiled sampler).

    - `temperature`: 0 for greedy (the most likely token), else the logits are divided by
      it before sampling.
    - `top_k`: sample among the `top_k` most likely tokens only (None: all).
    - `top_p`: sample among the smallest set of most likely tokens whose probability
      reaches `top_p` (nucleus sampling; None or 1: all).

    Top-k applies first, then top-p on what is left, both after the temperature.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self):
        check_fields(self, _RULES)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def __call__(self, logits: Float[Array, " vocab"], key: PRNGKeyArray) -> Int[Array, ""]:
        if self.greedy:
            return jnp.argmax(logits.astype(jnp.float32))
        return jax.random.categorical(key, self._kept_logits(logits))

    def probabilities(self, logits: Float[Array, "*batch vocab"]) -> Float[Array, "*batch vocab"]:
        """The distribution `__call__` draws from (greedy: all on the most likely token)."""
        if self.greedy:
            most_likely = jnp.argmax(logits.astype(jnp.float32), axis=-1)
            return jax.nn.one_hot(most_likely, logits.shape[-1], dtype=jnp.float32)
        return jax.nn.softmax(jnp.vectorize(self._kept_logits, signature="(v)->(v)")(logits))

    def _kept_logits(self, logits: Float[Array, " vocab"]) -> Float[Array, " vocab"]:
        """The logits after the temperature, -inf outside top-k and top-p."""
        logits = logits.astype(jnp.float32) / self.temperature
        if self.top_k is not None and self.top_k < logits.shape[-1]:
            kth_largest = jax.lax.top_k(logits, self.top_k)[0][-1]
            logits = jnp.where(logits < kth_largest, -jnp.inf, logits)
        if self.top_p is not None and self.top_p < 1:
            descending = jnp.sort(logits)[::-1]
            probs = jax.nn.softmax(descending)
            mass_before = jnp.cumsum(probs) - probs
            kept = jnp.sum(mass_before < self.top_p)  # at least the most likely token
            logits = jnp.where(logits < descending[kept - 1], -jnp.inf, logits)
        return logits


def token_log_probs(logits: Float[Array, "*batch vocab"], tokens: Int[Array, "*batch"]) -> Array:
    """Each token's log-probability under the softmax of its logits (no temperature)."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    return jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]


_RULES = {
    "temperature": number("[0, inf)"),
    "top_k": optional(integer(1)),
    "top_p": optional(number("(0, 1]")),
}
