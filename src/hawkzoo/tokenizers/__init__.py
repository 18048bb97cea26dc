"""Tokenizers: bytes (built in) and SentencePiece model files."""

from ._base import (
    INSTRUCTION_TEMPLATE as INSTRUCTION_TEMPLATE,
    Tokenizer as Tokenizer,
    instruction_prompt as instruction_prompt,
)
from ._bytes import ByteTokenizer as ByteTokenizer
from ._sentencepiece import SentencePieceTokenizer as SentencePieceTokenizer
