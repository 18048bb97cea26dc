"""`ModelConfig`: the hyper-parameters that decide a model's architecture."""

import dataclasses
import itertools
import typing
from collections.abc import Sequence
from typing import Literal, cast

import jax.numpy as jnp

from .. import backends
from .._checks import FLAG, check_fields, integer, number, optional, text, texts
from ..errors import InputError

BlockType = Literal["recurrent", "attention"]
BLOCK_TYPES: tuple[BlockType, ...] = ("recurrent", "attention")
DTYPES = ("float32", "bfloat16", "float16", "float64")


@typing.no_type_check  # its own checks name the field, ahead of any type checker
@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """A Hawk, Griffin or MQA-Transformer language model, as data.

    - `block_pattern`, repeated and cut to `num_layers`, says which temporal block each
      residual block has: `("recurrent",)` is Hawk, `("recurrent", "recurrent",
      "attention")` Griffin, `("attention",)` with `attention_window=None` the MQA
      Transformer baseline.
    - `num_gate_blocks`: blocks of the RG-LRU's block-diagonal gates (the paper used 16;
      the official code ties it to `num_heads`).
    - `attention_window`: each token attends to itself and this many before it; None
      means the whole sequence.
    - `embedding_scale`: multiply embeddings by `sqrt(width)` rounded to bfloat16, as
      RecurrentGemma does (50.5 for width 2560).
    - `logits_soft_cap`: `c · tanh(logits / c)`; None for none.
    - `param_dtype`: the parameters' dtype; `compute_dtype`: the dtype the model computes
      in (None: the parameters'). The RG-LRU state, scans and softmax are float32 always.
    - `remat`: recompute each residual block in the backward pass instead of storing it.
    - `scan_backend`: the scan backend every RG-LRU uses (a registered name), ahead of
      [`hawkzoo.backends.use`][]; None follows the current default.
    """

    vocab_size: int
    width: int
    mlp_width: int
    lru_width: int
    num_heads: int
    num_gate_blocks: int
    num_layers: int
    block_pattern: Sequence[str]
    attention_window: int | None = None
    embedding_scale: bool = False
    logits_soft_cap: float | None = None
    conv_width: int = 4
    complex_gates: bool = False
    param_dtype: str = "float32"
    compute_dtype: str | None = None
    remat: bool = False
    scan_backend: str | None = None

    def __post_init__(self):
        check_fields(self, _RULES)
        object.__setattr__(self, "block_pattern", tuple(self.block_pattern))
        if "attention" in self.block_types:
            if self.width % self.num_heads:
                raise InputError(
                    f"ModelConfig.width={self.width} is not divisible by num_heads={self.num_heads}"
                )
            if self.head_dim % 4:
                raise InputError(
                    f"ModelConfig.num_heads={self.num_heads} gives head width "
                    f"{self.head_dim}, which RoPE needs divisible by 4"
                )
        state_width = self.lru_width // 2 if self.complex_gates else self.lru_width
        if self.complex_gates and self.lru_width % 2:
            raise InputError(f"ModelConfig.lru_width={self.lru_width} must be even")
        if state_width % self.num_gate_blocks:
            raise InputError(
                f"ModelConfig.lru_width={self.lru_width} is not divisible by "
                f"num_gate_blocks={self.num_gate_blocks}"
            )
        optional(text(backends.registered())).check("ModelConfig.scan_backend", self.scan_backend)

    @property
    def block_types(self) -> tuple[BlockType, ...]:
        """Each residual block's temporal block, in order."""
        blocks = itertools.islice(itertools.cycle(self.block_pattern), self.num_layers)
        return tuple(cast(BlockType, block) for block in blocks)

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    def replace(self, **changes) -> "ModelConfig":
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)

    def dtype(self, which: Literal["param", "compute"] = "param") -> jnp.dtype:
        name = self.param_dtype if which == "param" else self.compute_dtype or self.param_dtype
        return jnp.dtype(name)


_RULES = {
    **dict.fromkeys(
        (
            "vocab_size",
            "width",
            "mlp_width",
            "lru_width",
            "num_heads",
            "num_gate_blocks",
            "num_layers",
            "conv_width",
        ),
        integer(1),
    ),
    "block_pattern": texts(BLOCK_TYPES),
    "attention_window": optional(integer(1)),
    "embedding_scale": FLAG,
    "logits_soft_cap": optional(number("(0, inf)")),
    "complex_gates": FLAG,
    "param_dtype": text(DTYPES),
    "compute_dtype": optional(text(DTYPES)),
    "remat": FLAG,
}
