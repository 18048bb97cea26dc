"""The official Flax parameter tree (`recurrentgemma.jax.Griffin`), to hawkzoo and back."""

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..model import LanguageModel, ModelConfig, build, is_quantized, preset, presets
from ..nn import RecurrentBlock

Path = tuple[str, ...]

# Each residual block's parameters: (hawkzoo attribute path, official Flax path).
_RESIDUAL = (
    ("temporal_norm.scale", "temporal_pre_norm/scale"),
    ("channel_norm.scale", "channel_pre_norm/scale"),
    ("mlp.up.weight", "mlp_block/ffw_up/w"),
    ("mlp.up.bias", "mlp_block/ffw_up/b"),
    ("mlp.down.weight", "mlp_block/ffw_down/kernel"),
    ("mlp.down.bias", "mlp_block/ffw_down/bias"),
)
_RECURRENT = (
    *(
        (f"temporal.{layer}.{ours}", f"recurrent_block/{layer}/{theirs}")
        for layer in ("linear_x", "linear_y", "linear_out")
        for ours, theirs in (("weight", "kernel"), ("bias", "bias"))
    ),
    ("temporal.conv.weight", "recurrent_block/conv_1d/w"),
    ("temporal.conv.bias", "recurrent_block/conv_1d/b"),
    ("temporal.rg_lru.decay_param", "recurrent_block/rg_lru/a_param"),
    ("temporal.rg_lru.phase_param", "recurrent_block/rg_lru/a_imag_param"),
    ("temporal.rg_lru.decay_gate.weight", "recurrent_block/rg_lru/a_gate/w"),
    ("temporal.rg_lru.decay_gate.bias", "recurrent_block/rg_lru/a_gate/b"),
    ("temporal.rg_lru.input_gate.weight", "recurrent_block/rg_lru/input_gate/w"),
    ("temporal.rg_lru.input_gate.bias", "recurrent_block/rg_lru/input_gate/b"),
)
_ATTENTION = (
    ("temporal.q_proj.weight", "attention_block/proj_q/kernel"),
    ("temporal.k_proj.weight", "attention_block/proj_k/kernel"),
    ("temporal.v_proj.weight", "attention_block/proj_v/kernel"),
    ("temporal.out_proj.weight", "attention_block/proj_final/kernel"),
    ("temporal.out_proj.bias", "attention_block/proj_final/bias"),
)

# What a parameter tree's shapes decide.
_SHAPE_FIELDS = (
    "vocab_size",
    "width",
    "mlp_width",
    "lru_width",
    "num_heads",
    "num_gate_blocks",
    "conv_width",
    "complex_gates",
    "block_types",
)
# Fields a parameter tree cannot tell; a matching preset or the caller supplies them.
BEHAVIOUR_FIELDS = ("attention_window", "embedding_scale", "logits_soft_cap")


def _leaf(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def _pairs(model: LanguageModel) -> Iterator[tuple[str, Path]]:
    """(hawkzoo attribute path, Flax path) of every parameter the model has."""
    yield "embedding", ("embedder", "input_embedding")
    yield "final_norm.scale", ("final_norm", "scale")
    for i, block in enumerate(model.blocks):
        temporal = _RECURRENT if isinstance(block.temporal, RecurrentBlock) else _ATTENTION
        for ours, theirs in _RESIDUAL + temporal:
            if _leaf(block, ours) is not None:  # the real RG-LRU has no phase
                yield f"blocks.{i}.{ours}", (f"blocks.{i}", *theirs.split("/"))


def _flax_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The official shape of one of our arrays: the MLP's `up` stacks its two branches on
    a leading axis (and its bias has two broadcast axes)."""
    if path[-2:] == ("ffw_up", "w"):
        return (2, shape[0], shape[1] // 2)
    if path[-2:] == ("ffw_up", "b"):
        return (2, 1, 1, shape[0] // 2)
    return shape


def _to_flax_layout(path: Path, value: Any) -> Any:
    if path[-2:] == ("ffw_up", "w"):
        return value.reshape(value.shape[0], 2, -1).transpose(1, 0, 2)
    return value.reshape(_flax_shape(path, value.shape))


def _from_flax_layout(path: Path, value: Any, shape: tuple[int, ...]) -> Any:
    if path[-2:] == ("ffw_up", "w"):
        return value.transpose(1, 0, 2).reshape(shape)
    return value.reshape(shape)


def _unwrap(params: Mapping) -> Mapping:
    return params["params"] if set(params) == {"params"} else params


def flatten(tree: Mapping, prefix: Path = ()) -> dict[Path, Any]:
    """A nested parameter tree as `{path: array}`."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, (*prefix, key))
        else:
            flat[(*prefix, key)] = value
    return flat


def _show(path: Path) -> str:
    return "params" + "".join(f"[{part!r}]" for part in path)


def nest(flat: Mapping[Path, Any]) -> dict[str, Any]:
    """`{path: array}` as a nested parameter tree."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def to_flax(model: LanguageModel) -> dict[str, Any]:
    """The model's parameters as the official `Griffin`'s `params` tree."""
    if is_quantized(model):
        raise InputError(
            "an int8 model (hawkzoo.quantize) has no float weights to write in the official "
            "layout: export the float model, or save it as a hawkzoo checkpoint"
        )
    return nest({path: _to_flax_layout(path, _leaf(model, ours)) for ours, path in _pairs(model)})


def config_from_flax(params: Mapping, **fields) -> ModelConfig:
    """The config of an official parameter tree: sizes and block types from its shapes;
    `attention_window`, `embedding_scale` and `logits_soft_cap` from `fields`, or else
    from the one preset with these shapes."""
    flat = flatten(_unwrap(params))
    if ("embedder", "input_embedding") not in flat:
        raise InputError("params has no embedder/input_embedding: not a Griffin tree")
    vocab_size, width = _shape(flat, "embedder", "input_embedding")
    block_types = []
    for i in itertools.count():
        kinds = {path[1] for path in flat if path[0] == f"blocks.{i}"}
        if not kinds:
            break
        block_types.append("recurrent" if "recurrent_block" in kinds else "attention")
    if not block_types:
        raise InputError("params has no 'blocks.0': not a Griffin tree")
    first = "blocks.0"
    inferred: dict[str, Any] = {
        "vocab_size": int(vocab_size),
        "width": int(width),
        "mlp_width": int(_shape(flat, first, "mlp_block", "ffw_up", "w")[-1]),
        "num_layers": len(block_types),
        "block_pattern": _shortest_period(block_types),
        "param_dtype": _dtype_of(flat),
    }
    if "recurrent" in block_types:
        lru = f"blocks.{block_types.index('recurrent')}", "recurrent_block"
        gate_blocks = _shape(flat, *lru, "rg_lru", "a_gate", "w")[0]
        inferred["lru_width"] = int(_shape(flat, *lru, "linear_x", "kernel")[-1])
        inferred["num_gate_blocks"] = int(gate_blocks)
        inferred["conv_width"] = int(_shape(flat, *lru, "conv_1d", "w")[0])
        inferred["complex_gates"] = (*lru, "rg_lru", "a_imag_param") in flat
    if "attention" in block_types:
        attention = f"blocks.{block_types.index('attention')}", "attention_block"
        head_dim = _shape(flat, *attention, "proj_k", "kernel")[-1]
        inferred["num_heads"] = int(width // head_dim)
    inferred.setdefault("num_heads", inferred.get("num_gate_blocks"))
    inferred.setdefault("lru_width", inferred["width"])
    inferred.setdefault("num_gate_blocks", inferred["num_heads"])
    shaped = ModelConfig(**inferred)
    missing = [name for name in BEHAVIOUR_FIELDS if name not in fields]
    if missing:
        candidates = {name: preset(name) for name in presets()}
        matches = [name for name, config in candidates.items() if _same_shapes(config, shaped)]
        if len(matches) != 1:
            raise InputError(
                f"cannot tell {', '.join(missing)} from the parameter shapes "
                f"({'no preset' if not matches else 'presets ' + ', '.join(matches)} "
                "match them): pass them as keywords"
            )
        fields = {name: getattr(candidates[matches[0]], name) for name in missing} | fields
    return shaped.replace(**fields)


def _shape(flat: Mapping[Path, Any], *path: str) -> tuple[int, ...]:
    value = flat[path]
    return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)


def _dtype_of(flat: Mapping[Path, Any], default: str = "float32") -> str:
    embedding = flat.get(("embedder", "input_embedding"))
    return default if embedding is None else str(embedding.dtype)


def _same_shapes(config: ModelConfig, other: ModelConfig) -> bool:
    return all(getattr(config, name) == getattr(other, name) for name in _SHAPE_FIELDS)


def _shortest_period(items: list) -> tuple:
    for period in range(1, len(items) + 1):
        if all(item == items[i % period] for i, item in enumerate(items)):
            return tuple(items[:period])
    raise AssertionError("unreachable")


def from_flax(params: Mapping, config: ModelConfig | None = None, **fields) -> LanguageModel:
    """A hawkzoo model holding an official parameter tree's arrays (as they are: bf16
    checkpoints give a bf16 model).

    `params` is `{"params": ...}` or the bare tree. `config`: None to infer it with
    [`config_from_flax`][hawkzoo.checkpoints.config_from_flax] (`fields` go to it).

    Raises `ValueError` naming the first path whose shape does not fit (with both
    shapes), or that is missing or left over.
    """
    params = _unwrap(params)
    flat = flatten(params)
    if config is None:
        config = config_from_flax(params, **fields)
    else:
        config = config.replace(param_dtype=_dtype_of(flat, config.param_dtype), **fields)
    template = build(config)
    pairs = list(_pairs(template))
    values = []
    for ours, path in pairs:
        if path not in flat:
            raise InputError(f"{_show(path)} is missing from the parameter tree")
        shape = _leaf(template, ours).shape
        if _shape(flat, *path) != _flax_shape(path, shape):
            raise InputError(
                f"{_show(path)} has shape {_shape(flat, *path)}, "
                f"the config needs {_flax_shape(path, shape)}"
            )
        values.append(_from_flax_layout(path, jnp.asarray(flat.pop(path)), shape))
    if flat:
        raise InputError(f"{_show(next(iter(flat)))} has no place in a model of this config")
    return eqx.tree_at(lambda m: [_leaf(m, ours) for ours, _ in pairs], template, values)


def official_module(
    config: ModelConfig,
    *,
    window: int | None = None,
    remat: bool = False,
    param_dtype=jnp.float32,
):
    """The official Flax `recurrentgemma.jax.griffin.Griffin` of `config`, whose
    parameters [`to_flax`][hawkzoo.checkpoints.to_flax] gives: to check numbers against
    the official code (needs `recurrentgemma[jax]`).

    `window` is its attention window, by default `config`'s (global attention has none
    there: a window longer than any sequence, or, to decode, the cache length to hold);
    `remat` is its `gradient_checkpointing`.
    """
    from recurrentgemma import common
    from recurrentgemma.jax import griffin

    block_types = {
        "recurrent": common.TemporalBlockType.RECURRENT,
        "attention": common.TemporalBlockType.ATTENTION,
    }
    return griffin.Griffin(
        common.GriffinConfig(
            vocab_size=config.vocab_size,
            width=config.width,
            mlp_expanded_width=config.mlp_width,
            num_heads=config.num_heads,
            lru_width=config.lru_width,
            block_types=tuple(block_types[block] for block in config.block_types),
            embeddings_scale_by_sqrt_dim=config.embedding_scale,
            attention_window_size=window or config.attention_window or 1 << 30,
            logits_soft_cap=config.logits_soft_cap or 0.0,
        ),
        gradient_checkpointing=remat,
        param_dtype=param_dtype,
    )
