"""Sampling: cached decoding of a batch of prompts in one compiled loop."""

from ._choice import TokenChoice as TokenChoice
from ._generate import (
    Generation as Generation,
    TokenCallback as TokenCallback,
    decode as decode,
    generate as generate,
)
