#!/usr/bin/env bash
# Gathers into WHEELS what benchmarks/device_check.sh installs on a machine without the
# network: hawkzoo's wheel, and the packages its tests need that the GPU machine's image
# lacks (its JAX, equinox, optax, orbax, jaxtyping and hypothesis are used as they are).
set -euo pipefail
wheels=${1:?usage: benchmarks/device_wheels.sh WHEELS}
uv build --wheel --out-dir "$wheels"
# The locked versions of each.
mapfile -t pinned < <(uv run python -c "import importlib.metadata as m
for name in ('beartype', 'pytest-xdist', 'execnet', 'recurrentgemma'):
    print(f'{name}=={m.version(name)}')")
uv run --no-project --with pip python -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.12 --dest "$wheels" "${pinned[@]}" 2>&1 | grep -v "is ignored" || true
ls "$wheels"
