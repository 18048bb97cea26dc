"""The synthetic copy and retrieval tasks: batches drawn from a key, inside `jax.jit`.

Each task fills rows of a given length; `mask` marks the query positions, where the
target is the token to recall. Accuracy is the fraction of query positions whose most
likely token is the target.
"""

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .._checks import integer, number
from ..errors import InputError
from ._packing import Batch


class AbstractTask(eqx.Module):
    """A synthetic task: a vocabulary, a training length, and rows drawn from a key."""

    vocab_size: eqx.AbstractVar[int]
    train_length: eqx.AbstractVar[int]

    def __check_init__(self):
        for field in dataclasses.fields(self):
            rule = integer(1) if field.type is int else number("(0, inf)")
            rule.check(f"{type(self).__name__}.{field.name}", getattr(self, field.name))

    def batch(self, key: PRNGKeyArray, batch_size: int, length: int | None = None) -> Batch:
        """`batch_size` rows of `length` tokens (the training length by default)."""
        length = self.train_length if length is None else length
        self.check_length(length)
        tokens, targets, mask = jax.vmap(lambda k: self.row(k, length))(
            jax.random.split(key, batch_size)
        )
        positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), tokens.shape)
        return Batch(tokens.astype(jnp.int32), positions, targets.astype(jnp.int32), mask)

    @abc.abstractmethod
    def row(self, key: PRNGKeyArray, length: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One row: tokens, targets and the query mask, each of shape `(length,)`."""

    def check_length(self, length: int) -> None:
        if length < self.min_length:
            raise InputError(
                f"{self.name} needs rows of at least {self.min_length} tokens, got {length}"
            )

    @property
    @abc.abstractmethod
    def min_length(self) -> int: ...

    @property
    def name(self) -> str:
        return next(name for name, task in TASKS.items() if type(task) is type(self))


class SelectiveCopying(AbstractTask):
    """Copy the data tokens scattered among noise, in order, after a marker.

    Token 0 is noise and 1 the marker; data tokens are drawn uniformly from `[2, vocab)`.
    A row of length `L` holds `num_data` data tokens at random places among `L - num_data`
    context tokens, then the marker, then `num_data - 1` noise tokens. The query positions
    are the marker and the noise after it: the `i`-th predicts the `i`-th data token. The
    model sees no data token twice (no teacher forcing), as in the paper's Appendix H.
    """

    vocab_size: int = 16
    train_length: int = 256
    num_data: int = 16

    @property
    def min_length(self) -> int:
        return 2 * self.num_data

    def row(self, key, length):
        data_key, place_key = jax.random.split(key)
        context = length - self.num_data
        data = jax.random.randint(data_key, (self.num_data,), 2, self.vocab_size)
        places = jnp.sort(jax.random.choice(place_key, context, (self.num_data,), replace=False))
        tokens = jnp.zeros(length, jnp.int32).at[places].set(data).at[context].set(1)
        queries = jnp.arange(length) >= context
        targets = jnp.zeros(length, jnp.int32).at[context:].set(data)
        return tokens, targets, queries


class InductionHeads(AbstractTask):
    """Recall the token that followed the special token, when it comes again.

    Token 0 is special; the others are uniform on `[1, vocab)`. The special token sits at
    one random place in the first `L - 2` tokens and again at the end; the one query
    position is the last, and its target the token after the first special token.
    """

    vocab_size: int = 16
    train_length: int = 256

    @property
    def min_length(self) -> int:
        return 3

    def row(self, key, length):
        token_key, place_key = jax.random.split(key)
        tokens = jax.random.randint(token_key, (length,), 1, self.vocab_size)
        place = jax.random.randint(place_key, (), 0, length - 2)
        tokens = tokens.at[place].set(0).at[length - 1].set(0)
        queries = jnp.arange(length) == length - 1
        targets = jnp.where(queries, tokens[place + 1], 0)
        return tokens, targets, queries


class MultiQueryAssociativeRecall(AbstractTask):
    """Zoology's MQAR: key-value pairs, then every key once more; recall its value.

    Keys are drawn without replacement from `[1, vocab/2)`, values from `[vocab/2,
    vocab)`. The row starts with `num_pairs` adjacent pairs `k v`; the rest is 0 but for
    one query of each key, at even offsets drawn without replacement with probability
    proportional to `gap ** (power_a - 1)` (most queries close to the pairs). The query
    positions are the keys' second occurrences, their targets the values (Zoology's
    `multiquery_ar` with `random_non_queries=False`, after its shift by one).
    """

    vocab_size: int = 256
    train_length: int = 64
    num_pairs: int = 8
    power_a: float = 0.01

    def __check_init__(self):
        if self.num_pairs >= self.vocab_size // 2:
            raise InputError(
                f"{self.num_pairs} pairs need a vocabulary over {2 * self.num_pairs + 1}"
            )

    @property
    def min_length(self) -> int:
        return 4 * self.num_pairs

    def row(self, key, length):
        key_key, value_key, gap_key = jax.random.split(key, 3)
        half = self.vocab_size // 2
        keys = jax.random.permutation(key_key, jnp.arange(1, half))[: self.num_pairs]
        values = jax.random.permutation(value_key, jnp.arange(half, self.vocab_size))[
            : self.num_pairs
        ]
        context = 2 * self.num_pairs
        slots = (length - context) // 2
        weights = jnp.arange(1, slots + 1, dtype=jnp.float32) ** (self.power_a - 1)
        gaps = jax.random.choice(
            gap_key, slots, (self.num_pairs,), replace=False, p=weights / weights.sum()
        )
        places = context + 2 * gaps
        pairs = jnp.stack([keys, values], axis=1).reshape(-1)
        tokens = jnp.zeros(length, jnp.int32).at[:context].set(pairs).at[places].set(keys)
        targets = jnp.zeros(length, jnp.int32).at[places].set(values)
        queries = jnp.zeros(length, bool).at[places].set(True)
        return tokens, targets, queries


class Phonebook(AbstractTask):
    """Look up a name's number in a book of random entries, after two worked lookups.

    Ids: 0 padding, 1 `;`, 2 `:`, 3-12 the digits, the rest name tokens. An entry is
    `n1 n2 : d1 d2 d3 ;` with a two-token name (distinct across the book) and a three-digit
    number. A row is padding, as many entries as fit, two entries of the book repeated as
    worked examples, then a name from the book and `: d1 d2`; the query positions are the
    `:` and the first two digits, their targets the three digits.
    """

    vocab_size: int = 64
    train_length: int = 128

    ENTRY = 7
    QUERY = 5

    @property
    def min_length(self) -> int:
        return self.ENTRY * 4 + self.QUERY

    def row(self, key, length):
        name_key, number_key, pick_key = jax.random.split(key, 3)
        entries = (length - self.QUERY) // self.ENTRY - 2
        names_per_token = self.vocab_size - 13
        name_ids = jax.random.choice(name_key, names_per_token**2, (entries,), replace=False)
        names = 13 + jnp.stack([name_ids // names_per_token, name_ids % names_per_token], axis=1)
        numbers = 3 + jax.random.randint(number_key, (entries, 3), 0, 10)
        book = jnp.concatenate(
            [names, jnp.full((entries, 1), 2), numbers, jnp.full((entries, 1), 1)], axis=1
        )
        picks = jax.random.randint(pick_key, (3,), 0, entries)
        query = jnp.concatenate([names[picks[2]], jnp.array([2]), numbers[picks[2], :2]])
        body = jnp.concatenate([book.reshape(-1), book[picks[:2]].reshape(-1), query])
        tokens = jnp.zeros(length, jnp.int32).at[length - len(body) :].set(body)
        queries = jnp.arange(length) >= length - 3
        targets = jnp.zeros(length, jnp.int32).at[length - 3 :].set(numbers[picks[2]])
        return tokens, targets, queries


TASKS: dict[str, AbstractTask] = {
    "selective-copying": SelectiveCopying(),
    "induction-heads": InductionHeads(),
    "mqar": MultiQueryAssociativeRecall(),
    "phonebook": Phonebook(),
}
"""The tasks by name, at their default sizes."""


def task(name: str, **changes) -> AbstractTask:
    """A task by name, with any fields changed (e.g. `train_length=128`)."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return dataclasses.replace(TASKS[name], **changes)
