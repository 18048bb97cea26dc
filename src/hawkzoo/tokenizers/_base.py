"""What a tokenizer provides, and RecurrentGemma's instruction-tuned prompt template."""

from typing import Protocol, runtime_checkable

import numpy as np

INSTRUCTION_TEMPLATE = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"
"""The prompt format of the instruction-tuned RecurrentGemma checkpoints."""


def instruction_prompt(text: str) -> str:
    """`text` as a user turn for an instruction-tuned model, ending where the model answers."""
    return INSTRUCTION_TEMPLATE.format(text)


@runtime_checkable
class Tokenizer(Protocol):
    """Text to token ids and back, with the special ids the sampler needs."""

    @property
    def vocab_size(self) -> int: ...
    @property
    def pad_id(self) -> int: ...
    @property
    def bos_id(self) -> int: ...
    @property
    def eos_id(self) -> int: ...
    @property
    def stop_ids(self) -> tuple[int, ...]:
        """The ids that end a generated answer."""
        ...

    def encode(self, text: str, *, add_bos: bool = True) -> list[int]:
        """The ids of `text`, after a BOS unless `add_bos=False` (the official prompts
        start with one)."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`; special ids are dropped."""
        ...

    def token_bytes(self) -> np.ndarray:
        """The UTF-8 bytes each id stands for, as an array over the vocabulary: 0 for
        special ids. Bits per byte divide by their sum over the predicted ids."""
        ...
