"""Which backends have run on a device kind: the package's verification record and the
`hawkzoo doctor` cache of this machine. `auto` runs a kernel only where one says so."""

import datetime
import functools
import importlib.metadata
import importlib.resources
import json
import os
import pathlib
import warnings
from typing import Any

import jax

from . import _platform
from ._registry import get, kernels_for, registered

CACHE_VARIABLE = "HAWKZOO_DOCTOR_CACHE"
CACHE_FORMAT = "hawkzoo-doctor-cache/2"
PLATFORMS = {"cpu": "CPU", "gpu": "NVIDIA GPU", "tpu": "TPU"}

_warned: set[str] = set()


@functools.cache
def record() -> list[dict[str, Any]]:
    """The package's record: a native verification per entry (backend, platform, device
    kind, JAX and hawkzoo versions, date and the checks passed)."""
    text = importlib.resources.files(__package__).joinpath("verified.json").read_text()
    return json.loads(text)["entries"]


def here() -> dict[str, str]:
    """What a cached verification is keyed by: this device kind and these versions."""
    return {
        "device_kind": _platform.device_kind(),
        "jax": jax.__version__,
        "hawkzoo": importlib.metadata.version("hawkzoo"),
    }


def cache_path() -> pathlib.Path | None:
    """The doctor's cache file, or None where `$HAWKZOO_DOCTOR_CACHE` is `0` (turned off).

    Any other value of the variable is the file to use; by default it is `doctor.json` in
    the user's cache folder (`$XDG_CACHE_HOME`, else `~/.cache`) under `hawkzoo/`.
    """
    chosen = os.environ.get(CACHE_VARIABLE, "")
    if chosen == "0":
        return None
    if chosen:
        return pathlib.Path(chosen)
    folder = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(folder) / "hawkzoo" / "doctor.json"


def verified_by(name: str) -> str | None:
    """Where backend `name` is verified for the device kind here: the record's entry or
    this machine's doctor run, described; None if nowhere."""
    key = here()
    for entry in record():
        if entry["backend"] == name and entry["device_kind"] == key["device_kind"]:
            return f"the package's record ({entry['date']}, JAX {entry['jax']})"
    for cached in _read_cache():
        if cached["backend"] == name and cached["key"] == key and cached["verified"]:
            return f"hawkzoo doctor on this machine ({cached['date']})"
    return None


def remember(results: dict[str, bool]) -> pathlib.Path | None:
    """Cache whether each backend (by name) passed every check natively here, beside the
    entries of other device kinds and versions; returns the file written, None when the
    cache is off."""
    path = cache_path()
    if path is None:
        return None
    key, date = here(), datetime.date.today().isoformat()
    kept = [e for e in _read_cache() if e["key"] != key or e["backend"] not in results]
    new = [{"backend": b, "key": key, "date": date, "verified": ok} for b, ok in results.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_text(json.dumps({"format": CACHE_FORMAT, "entries": kept + new}, indent=1))
    staged.replace(path)
    return path


def _read_cache() -> list[dict[str, Any]]:
    """The cache's entries; none when off, missing or unreadable (the last with one warning
    per file)."""
    path = cache_path()
    if path is None or not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        if data["format"] != CACHE_FORMAT:
            raise ValueError(f"format {data['format']!r}")
        entries = data["entries"]
        if not all({"backend", "key", "date", "verified"} <= entry.keys() for entry in entries):
            raise ValueError("an entry lacks its backend, key, date or verdict")
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        if str(path) not in _warned:
            _warned.add(str(path))
            warnings.warn(
                f"ignoring the hawkzoo doctor cache {path}, which cannot be read "
                f"({type(error).__name__}: {error}); `hawkzoo doctor` writes it anew",
                stacklevel=2,
            )
        return []


def support_matrix() -> str:
    """A Markdown table, backend by platform, of what the package's record says: verified
    natively (on which device, when, under which JAX), interpreter only, or unsupported;
    and what `auto` runs there."""
    names = [name for name in registered() if name != "auto"]
    header = ["backend", *PLATFORMS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        cells = [_cell(name, platform, get(name).kernel_for) for platform in PLATFORMS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    picks = [_auto_cell(platform) for platform in PLATFORMS]
    lines.append("| `auto` runs | " + " | ".join(picks) + " |")
    return "\n".join(lines) + "\n"


def _cell(name: str, platform: str, kernel_for: str | None) -> str:
    found = [e for e in record() if e["backend"] == name and e["platform"] == platform]
    if found:
        return "<br>".join(
            f"verified natively: {e['device_kind']}, JAX {e['jax']}, {e['date']}" for e in found
        )
    if kernel_for is None:
        return "pure JAX, not yet run here"
    if kernel_for == platform:
        return "interpreter only (not yet run on a chip)"
    return "unsupported (its interpreter runs here, for tests)"


def _auto_cell(platform: str) -> str:
    fallback = "sequential" if platform == "cpu" else "chunked"
    kernels = [kernel.name for kernel in kernels_for(platform)]
    trusted = [
        f"`{e['backend']}` on {e['device_kind']}"
        for e in record()
        if e["backend"] in kernels and e["platform"] == platform
    ]
    unverified = [f"`{name}` once `hawkzoo doctor` verifies it" for name in kernels]
    if not trusted and not unverified:
        return f"`{fallback}`"
    return "; ".join([*trusted, *unverified, f"else `{fallback}`"])
