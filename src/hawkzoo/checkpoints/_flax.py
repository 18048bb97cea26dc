"""The official Flax parameter tree (`recurrentgemma.jax.Griffin`), to hawkzoo and back."""

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..model import LanguageModel, ModelConfig, build, preset, presets
from ..nn import RecurrentBlock

Path = tuple[str, ...]
# A hawkzoo leaf, its Flax path, and how the Flax array is shaped from ours (and back).
Correspondence = tuple[
    Callable[[LanguageModel], Any], Path, Callable[[Any], Any], Callable[[Any], Any]
]

_same = (lambda v: v, lambda v: v)

# Fields a parameter tree cannot tell; a matching preset or the caller supplies them.
BEHAVIOUR_FIELDS = ("attention_window", "embedding_scale", "logits_soft_cap")


def _correspondences(model: LanguageModel) -> Iterator[Correspondence]:
    yield (lambda m: m.embedding), ("embedder", "input_embedding"), *_same
    yield (lambda m: m.final_norm.scale), ("final_norm", "scale"), *_same
    for i, block in enumerate(model.blocks):
        name = f"blocks.{i}"

        def at(get, i=i):
            return lambda m: get(m.blocks[i])

        yield at(lambda b: b.temporal_norm.scale), (name, "temporal_pre_norm", "scale"), *_same
        yield at(lambda b: b.channel_norm.scale), (name, "channel_pre_norm", "scale"), *_same
        yield (
            at(lambda b: b.mlp.up_weight),
            (name, "mlp_block", "ffw_up", "w"),
            *_same,
        )
        yield (
            at(lambda b: b.mlp.up_bias),
            (name, "mlp_block", "ffw_up", "b"),
            lambda v: v.reshape(2, 1, 1, -1),
            lambda v: v.reshape(2, -1),
        )
        yield at(lambda b: b.mlp.down.weight), (name, "mlp_block", "ffw_down", "kernel"), *_same
        yield at(lambda b: b.mlp.down.bias), (name, "mlp_block", "ffw_down", "bias"), *_same
        if isinstance(block.temporal, RecurrentBlock):
            prefix = (name, "recurrent_block")
            for ours in ("linear_x", "linear_y", "linear_out"):
                yield (
                    at(lambda b, o=ours: getattr(b.temporal, o).weight),
                    (*prefix, ours, "kernel"),
                    *_same,
                )
                yield (
                    at(lambda b, o=ours: getattr(b.temporal, o).bias),
                    (*prefix, ours, "bias"),
                    *_same,
                )
            yield at(lambda b: b.temporal.conv.weight), (*prefix, "conv_1d", "w"), *_same
            yield at(lambda b: b.temporal.conv.bias), (*prefix, "conv_1d", "b"), *_same
            lru = (*prefix, "rg_lru")
            yield at(lambda b: b.temporal.rg_lru.decay_param), (*lru, "a_param"), *_same
            if block.temporal.rg_lru.complex_gates:
                yield at(lambda b: b.temporal.rg_lru.phase_param), (*lru, "a_imag_param"), *_same
            for ours, theirs in (("decay_gate", "a_gate"), ("input_gate", "input_gate")):
                gate = lambda b, o=ours: getattr(b.temporal.rg_lru, o)
                yield at(lambda b, g=gate: g(b).weight), (*lru, theirs, "w"), *_same
                yield at(lambda b, g=gate: g(b).bias), (*lru, theirs, "b"), *_same
        else:
            prefix = (name, "attention_block")
            for ours, theirs in (("q_proj", "proj_q"), ("k_proj", "proj_k"), ("v_proj", "proj_v")):
                yield (
                    at(lambda b, o=ours: getattr(b.temporal, o).weight),
                    (*prefix, theirs, "kernel"),
                    *_same,
                )
            yield (
                at(lambda b: b.temporal.out_proj.weight),
                (*prefix, "proj_final", "kernel"),
                *_same,
            )
            yield at(lambda b: b.temporal.out_proj.bias), (*prefix, "proj_final", "bias"), *_same


def _unwrap(params: Mapping) -> Mapping:
    return params["params"] if set(params) == {"params"} else params


def _flatten(tree: Mapping, prefix: Path = ()) -> dict[Path, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, (*prefix, key))
        else:
            flat[(*prefix, key)] = value
    return flat


def _show(path: Path) -> str:
    return "params" + "".join(f"[{part!r}]" for part in path)


def to_flax(model: LanguageModel) -> dict[str, Any]:
    """The model's parameters as the official `Griffin`'s `params` tree."""
    tree: dict = {}
    for get, path, to_theirs, _ in _correspondences(model):
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = to_theirs(get(model))
    return tree


def config_from_flax(params: Mapping, **fields) -> ModelConfig:
    """The config of an official parameter tree: sizes and block types from its shapes;
    `attention_window`, `embedding_scale` and `logits_soft_cap` from `fields`, or else
    from the one preset with these shapes."""
    flat = _flatten(_unwrap(params))
    if ("embedder", "input_embedding") not in flat:
        raise ValueError("params has no embedder/input_embedding: not a Griffin tree")
    vocab_size, width = _shape(flat, "embedder", "input_embedding")
    block_types = []
    for i in itertools.count():
        kinds = {path[1] for path in flat if path[0] == f"blocks.{i}"}
        if not kinds:
            break
        block_types.append("recurrent" if "recurrent_block" in kinds else "attention")
    if not block_types:
        raise ValueError("params has no 'blocks.0': not a Griffin tree")
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
    missing = [name for name in BEHAVIOUR_FIELDS if name not in fields]
    if missing:
        matches = [name for name in presets() if _same_shapes(preset(name), inferred)]
        if len(matches) != 1:
            raise ValueError(
                f"cannot tell {', '.join(missing)} from the parameter shapes "
                f"({'no preset' if not matches else 'presets ' + ', '.join(matches)} "
                "match them): pass them as keywords"
            )
        fields = {name: getattr(preset(matches[0]), name) for name in missing} | fields
    return ModelConfig(**(inferred | fields))


def _shape(flat: Mapping[Path, Any], *path: str) -> tuple[int, ...]:
    value = flat[path]
    return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)


def _dtype_of(flat: Mapping[Path, Any], default: str = "float32") -> str:
    embedding = flat.get(("embedder", "input_embedding"))
    return default if embedding is None else str(embedding.dtype)


def _same_shapes(config: ModelConfig, inferred: Mapping) -> bool:
    shapes = {k: v for k, v in inferred.items() if k not in ("param_dtype", "block_pattern")}
    return all(getattr(config, k) == v for k, v in shapes.items()) and (
        config.block_types == ModelConfig(**inferred).block_types
    )


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
    flat = _flatten(params)
    if config is None:
        config = config_from_flax(params, **fields)
    else:
        config = config.replace(param_dtype=_dtype_of(flat, config.param_dtype), **fields)
    template = build(config)
    getters, values = [], []
    for get, path, to_theirs, to_ours in _correspondences(template):
        if path not in flat:
            raise ValueError(f"{_show(path)} is missing from the parameter tree")
        expected = jax.eval_shape(to_theirs, get(template)).shape
        if _shape(flat, *path) != expected:
            raise ValueError(
                f"{_show(path)} has shape {_shape(flat, *path)}, the config needs {expected}"
            )
        theirs = flat.pop(path)
        getters.append(get)
        values.append(to_ours(jnp.asarray(theirs)))
    if flat:
        raise ValueError(f"{_show(next(iter(flat)))} has no place in a model of this config")
    return eqx.tree_at(lambda m: [get(m) for get in getters], template, values)
