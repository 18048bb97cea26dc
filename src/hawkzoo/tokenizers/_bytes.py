"""A byte-level tokenizer that needs no files."""

from dataclasses import dataclass

import numpy as np

SPECIAL_IDS = 3
"""pad 0, EOS 1, BOS 2 (RecurrentGemma's numbering); byte `b` is id `b + 3`."""


@dataclass(frozen=True)
class ByteTokenizer:
    """UTF-8 bytes as tokens: pad 0, EOS 1, BOS 2, byte `b` as `b + 3`.

    Its 256 ids cover all of UTF-8, whose bytes never exceed 0xF4, so it fits a model with
    a vocabulary of 256 or more.
    """

    vocab_size: int = 256
    pad_id: int = 0
    eos_id: int = 1
    bos_id: int = 2

    @property
    def stop_ids(self) -> tuple[int, ...]:
        return (self.eos_id,)

    def encode(self, text: str, *, add_bos: bool = True) -> list[int]:
        ids = [byte + SPECIAL_IDS for byte in text.encode("utf-8")]
        return [self.bos_id, *ids] if add_bos else ids

    def decode(self, ids: list[int]) -> str:
        data = bytes(i - SPECIAL_IDS for i in ids if SPECIAL_IDS <= i < 256)
        return data.decode("utf-8", errors="replace")

    def token_bytes(self) -> np.ndarray:
        return (np.arange(self.vocab_size) >= SPECIAL_IDS).astype(np.int64)
