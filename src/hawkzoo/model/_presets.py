"""Presets: the config files under `models/`, found by name."""

import functools
import importlib.resources
import pathlib
import tomllib

import equinox as eqx
import jax
from jaxtyping import PRNGKeyArray

from ._config import ModelConfig
from ._model import LanguageModel


def _models_folder() -> pathlib.Path:
    installed = importlib.resources.files("hawkzoo") / "_models"
    if installed.is_dir():
        return pathlib.Path(str(installed))
    return pathlib.Path(__file__).parents[3] / "models"  # a source checkout


@functools.cache
def _preset_files() -> dict[str, pathlib.Path]:
    return {
        f"{path.parent.name}-{path.stem}": path
        for path in sorted(_models_folder().glob("*/*.toml"))
    }


def presets() -> list[str]:
    """The names of every preset, `<family>-<size>` (e.g. `griffin-400m`)."""
    return list(_preset_files())


def preset(name: str, **changes) -> ModelConfig:
    """The config of a preset by name, with any fields changed (e.g. `remat=True`)."""
    files = _preset_files()
    if name not in files:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(files)}")
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
