"""What the benchmarks share: the small config they compare at, the official model on a
hawkzoo config, and the versions and machine reported beside every figure."""

import os
import platform

import jax
import jaxlib
import numpy as np
from recurrentgemma import common as official_common
from recurrentgemma.jax import griffin as official_griffin_module

from hawkzoo.model import ModelConfig

BASE = ModelConfig(
    vocab_size=256,
    width=512,
    mlp_width=1536,
    lru_width=512,
    num_heads=4,
    num_gate_blocks=4,
    num_layers=6,
    block_pattern=("recurrent", "recurrent", "attention"),
    attention_window=256,
    embedding_scale=True,
    logits_soft_cap=30.0,
)  # 19.3M parameters
FAMILIES = {
    "hawk": BASE.replace(block_pattern=("recurrent",)),
    "griffin": BASE,
    "mqa": BASE.replace(block_pattern=("attention",), attention_window=None),
}


def official_griffin(
    config: ModelConfig, window: int, remat: bool = True
) -> official_griffin_module.Griffin:
    """The official Flax model of `config`, its attention window `window` (global attention
    has none there), every block rematerialised when `remat` (its default)."""
    block_types = {
        "recurrent": official_common.TemporalBlockType.RECURRENT,
        "attention": official_common.TemporalBlockType.ATTENTION,
    }
    return official_griffin_module.Griffin(
        official_common.GriffinConfig(
            vocab_size=config.vocab_size,
            width=config.width,
            mlp_expanded_width=config.mlp_width,
            num_heads=config.num_heads,
            lru_width=config.lru_width,
            block_types=tuple(block_types[block] for block in config.block_types),
            embeddings_scale_by_sqrt_dim=config.embedding_scale,
            attention_window_size=window,
            logits_soft_cap=config.logits_soft_cap or 0.0,
        ),
        gradient_checkpointing=remat,
    )


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}",
        "cpu_count": os.cpu_count(),
    }


def spread(seconds: list[float], per: float = 1.0) -> dict:
    """Median, p10 and p90 in milliseconds, of each time divided by `per`."""
    ms = np.asarray(seconds) * 1e3 / per
    return {
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
    }
