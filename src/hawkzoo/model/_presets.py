"""Presets: the config files under `models/`, found by name."""

import functools
import importlib.resources
import pathlib
import re
import tomllib

import equinox as eqx
import jax
from jaxtyping import PRNGKeyArray

from ..errors import InputError
from ._config import ModelConfig
from ._model import LanguageModel


def _models_folder() -> pathlib.Path:
    installed = importlib.resources.files("hawkzoo") / "_models"
    if installed.is_dir():
        return pathlib.Path(str(installed))
    return pathlib.Path(__file__).parents[3] / "models"  # a source checkout


@functools.cache
def _preset_files() -> dict[str, pathlib.Path]:
    paths = sorted(_models_folder().glob("*/*.toml"), key=_family_then_size)
    return {f"{path.parent.name}-{path.stem}": path for path in paths}


def _family_then_size(path: pathlib.Path) -> tuple[str, float, str]:
    size = re.fullmatch(r"(\d+(?:\.\d+)?)([mb])", path.stem)
    count = float(size[1]) * {"m": 1e6, "b": 1e9}[size[2]] if size else 0.0
    return path.parent.name, count, path.stem


def presets() -> list[str]:
    """The names of every preset, `<family>-<size>` (e.g. `griffin-400m`)."""
    return list(_preset_files())


def preset(name: str, **changes) -> ModelConfig:
    """The config of a preset by name, with any fields changed (e.g. `remat=True`)."""
    files = _preset_files()
    if name not in files:
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(files)}")
    with files[name].open("rb") as file:
        fields = tomllib.load(file)
    return ModelConfig(**(fields | changes))


def build(name: str | ModelConfig, *, key: PRNGKeyArray | None = None, **changes) -> LanguageModel:
    """A model of a preset (or config) with fresh weights.

    With `key=None` it is built abstractly, its arrays `jax.ShapeDtypeStruct`s: cheap at
    any size, for counting parameters or planning a sharding.
    """
    config = preset(name, **changes) if isinstance(name, str) else name.replace(**changes)
    if key is None:
        return eqx.filter_eval_shape(LanguageModel, config, key=jax.random.key(0))
    return LanguageModel(config, key=key)
