"""Sampling: cached decoding of a batch of prompts in one compiled loop, and text in, text out."""

from ._choice import TokenChoice as TokenChoice
from ._generate import (
    Generation as Generation,
    TokenCallback as TokenCallback,
    decode as decode,
    generate as generate,
)
from ._prefill import Prefix as Prefix, prefill as prefill
from ._text import Completion as Completion, complete as complete
