"""MathJax shipped with the site rather than read from a CDN: the pinned release from the npm
registry, checked against its published digest, cached, and its single-file SVG build
copied into every build of the site."""

import base64
import hashlib
import os
import pathlib
import tarfile
import urllib.request

VERSION = "3.2.2"
TARBALL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
SHA512 = "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
SCRIPT = "package/es5/tex-svg.js"  # the TeX input and SVG output, fonts included
TARGET = "javascripts/mathjax/tex-svg.js"  # as mkdocs.yml's extra_javascript names it


def on_post_build(config, **kwargs) -> None:
    with tarfile.open(_tarball()) as archive:
        script = archive.extractfile(SCRIPT)
        assert script is not None, SCRIPT
        target = pathlib.Path(config["site_dir"]) / TARGET
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(script.read())


def _tarball() -> pathlib.Path:
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    path = cache / "hawkzoo-docs" / f"mathjax-{VERSION}.tgz"
    if not path.exists():
        with urllib.request.urlopen(TARBALL, timeout=60) as response:
            data = response.read()
        digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != SHA512:
            raise RuntimeError(f"{TARBALL} has sha512 {digest}, expected {SHA512}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return path
