"""Text in, text out: `generate` through a tokenizer."""

from collections.abc import Sequence
from typing import NamedTuple

from jaxtyping import Array, Key, PRNGKeyArray

from ..errors import InputError
from ..model import LanguageModel
from ..tokenizers import Tokenizer
from ._generate import TokenCallback, generate


class Completion(NamedTuple):
    """One prompt's continuation: its `text`, its `tokens` (the stop token included) and
    each token's log-probability under the model (`log_probs`, as
    [`Generation`][hawkzoo.sampling.Generation] has them)."""

    text: str
    tokens: list[int]
    log_probs: list[float]


def complete(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    key: PRNGKeyArray | Key[Array, " keys"] | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Sequence[int] | None = None,
    max_length: int | None = None,
    on_token: TokenCallback | None = None,
    draft: LanguageModel | None = None,
    draft_tokens: int = 4,
) -> list[Completion]:
    """Continue each of the texts `prompts` by up to `max_new_tokens` tokens.

    Each prompt is encoded after a BOS; a row ends at one of `stop_tokens` (None: the
    tokenizer's stop ids) and pads with the tokenizer's pad id. The other arguments are
    [`generate`][hawkzoo.sampling.generate]'s."""
    if isinstance(prompts, str):
        raise InputError("prompts must be a list of texts, not one text")
    generation = generate(
        model,
        [tokenizer.encode(prompt) for prompt in prompts],
        max_new_tokens=max_new_tokens,
        key=key,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        stop_tokens=tokenizer.stop_ids if stop_tokens is None else stop_tokens,
        max_length=max_length,
        pad_id=tokenizer.pad_id,
        on_token=on_token,
        draft=draft,
        draft_tokens=draft_tokens,
    )
    return [
        Completion(tokenizer.decode(tokens), tokens, log_probs)
        for tokens, log_probs in zip(generation.rows(), generation.row_log_probs(), strict=True)
    ]
