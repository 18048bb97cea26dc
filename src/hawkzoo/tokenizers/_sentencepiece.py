"""SentencePiece models, the format of the released RecurrentGemma tokenizer."""

import functools
import os

import numpy as np

from ..errors import InputError, MissingDependencyError, MissingPathError


class SentencePieceTokenizer:
    """A SentencePiece model file (`tokenizer.model`), with its own pad, BOS and EOS ids.

    Needs the `sentencepiece` extra (`pip install hawkzoo[sentencepiece]`). Generation
    stops at EOS, and at `<end_of_turn>` when the vocabulary has it (instruction-tuned
    models end their answer there).
    """

    def __init__(self, path: str | os.PathLike):
        try:
            import sentencepiece
        except ImportError as error:
            raise MissingDependencyError(
                "SentencePiece tokenizers need the sentencepiece package: "
                "pip install 'hawkzoo[sentencepiece]'"
            ) from error
        if not os.path.isfile(path):
            raise MissingPathError(f"no SentencePiece model at {os.fspath(path)!r}")
        self._processor = sentencepiece.SentencePieceProcessor()
        try:
            self._processor.Load(os.fspath(path))
        except (OSError, RuntimeError) as error:
            raise InputError(f"{os.fspath(path)!r} is not a SentencePiece model: {error}") from None
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({self.path!r})"

    @property
    def vocab_size(self) -> int:
        return self._processor.GetPieceSize()

    @property
    def pad_id(self) -> int:
        return max(self._processor.pad_id(), 0)

    @property
    def bos_id(self) -> int:
        return self._processor.bos_id()

    @property
    def eos_id(self) -> int:
        return self._processor.eos_id()

    @property
    def stop_ids(self) -> tuple[int, ...]:
        end_of_turn = self._processor.PieceToId("<end_of_turn>")
        is_known = end_of_turn != self._processor.unk_id()
        return (self.eos_id, end_of_turn) if is_known else (self.eos_id,)

    def encode(self, text: str, *, add_bos: bool = True) -> list[int]:
        ids = self._processor.EncodeAsIds(text)
        return [self.bos_id, *ids] if add_bos else ids

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`; ids past the tokenizer's (a model whose vocabulary is larger
        can sample them) decode to nothing, as the byte tokenizer's do."""
        size = self.vocab_size
        return self._processor.DecodeIds([i for i in ids if 0 <= i < size])

    def token_bytes(self) -> np.ndarray:
        """Control and unknown ids 0, byte-fallback ids 1, other pieces their UTF-8 length
        with SentencePiece's `▁` as a space."""
        return self._token_bytes

    @functools.cached_property
    def _token_bytes(self) -> np.ndarray:  # a pass over the vocabulary, once
        processor = self._processor
        return np.array(
            [
                0
                if processor.IsControl(i) or processor.IsUnknown(i)
                else 1
                if processor.IsByte(i)
                else len(processor.IdToPiece(i).replace("\u2581", " ").encode())
                for i in range(self.vocab_size)
            ],
            np.int64,
        )
