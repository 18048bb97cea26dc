"""Choosing a backend: registry, precedence, the context under jit, and fallbacks."""

import os
import subprocess
import sys
import threading
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import hawkzoo
from hawkzoo import backends, linear_scan

A = jnp.full((8, 4), 0.5)
X = jnp.ones((8, 4))


def traced_backends(fn, *args) -> set[str]:
    """The backends whose named scope appears in `fn`'s lowered text."""
    text = jax.jit(fn).lower(*args).as_text(debug_info=True)
    return {name for name in backends.registered() if f"hawkzoo.backends.{name}" in text}


def scan(a, x):
    return linear_scan(a, x)[0]


class Refusing(backends.AbstractScanBackend):
    """A backend that declines complex inputs, to test refusals."""

    name = "refusing"

    def unsupported_reason(self, a, x):
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            return "complex inputs are not supported"
        return None

    def scan(self, a, x, h0, *, reverse):
        return backends.Sequential().scan(a, x, h0, reverse=reverse)


def test_registry_lists_gets_and_rejects():
    assert {"sequential", "associative", "chunked", "auto"} <= set(backends.registered())
    assert isinstance(backends.get("chunked"), backends.Chunked)
    instance = backends.Chunked(chunk_size=8)
    assert backends.get(instance) is instance
    with pytest.raises(ValueError, match=r"unknown scan backend 'nope'; registered: .*sequential"):
        backends.get("nope")
    with pytest.raises(TypeError, match="AbstractScanBackend"):
        backends.get(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):

        @backends.register
        class Another(backends.Sequential):
            name = "sequential"


def test_auto_is_the_default_and_use_nests_and_restores():
    assert backends.current() == backends.Auto()
    with backends.use("associative") as chosen:
        assert chosen == backends.Associative() == backends.current()
        with backends.use(backends.Chunked(chunk_size=4)):
            assert backends.current() == backends.Chunked(chunk_size=4)
        assert backends.current() == backends.Associative()
    with pytest.raises(RuntimeError), backends.use("sequential"):
        raise RuntimeError
    assert backends.current() == backends.Auto()
    with pytest.raises(ValueError, match="unknown scan backend"):
        backends.use("nope")  # at the call, before any block is entered
    with backends.use("chunked"), backends.use(None) as unchanged:  # None: an unset option
        assert unchanged == backends.Chunked() == backends.current()


def test_precedence_argument_over_context():
    with backends.use("associative"):
        assert traced_backends(scan, A, X) == {"associative"}
        assert traced_backends(lambda a, x: linear_scan(a, x, backend="chunked")[0], A, X) == {
            "chunked"
        }


def test_auto_resolves_by_platform():
    assert traced_backends(scan, A, X) == {"sequential"}
    with jax.default_device(jax.devices("cpu")[0]):
        assert backends.Auto().select(A, X) == backends.Sequential()


@pytest.mark.parametrize("jit", [jax.jit, eqx.filter_jit], ids=["jax.jit", "eqx.filter_jit"])
def test_jitted_functions_retrace_when_the_selection_changes(jit):
    traces = []

    @jit
    def f(a, x):
        traces.append(backends.current().name)
        return linear_scan(a, x)

    expected = linear_scan(A, X, backend="sequential")
    for name in ["associative", "sequential", "associative", "chunked"]:
        with backends.use(name):
            h, h_last = f(A, X)
        assert jnp.allclose(h, expected[0]) and jnp.allclose(h_last, expected[1])
    assert traces == ["associative", "sequential", "chunked"]


def test_the_lowered_program_runs_the_selected_backend():
    for name in ["sequential", "associative", "chunked"]:
        with backends.use(name):
            assert traced_backends(scan, A, X) == {name}


def test_backward_pass_keeps_the_forward_backend():
    def loss(a, x):
        return jnp.sum(linear_scan(a, x)[0])

    with backends.use("chunked"):
        assert traced_backends(jax.grad(loss), A, X) == {"chunked"}
        _, pullback = jax.vjp(lambda a, x: linear_scan(a, x)[0], A, X)
    # Called outside the block, the pullback still runs the backend its forward pass ran.
    assert traced_backends(pullback, jnp.ones_like(X)) == {"chunked"}
    lowered = jax.jit(pullback).lower(jnp.ones_like(X)).as_text(debug_info=True)
    assert "while" in lowered  # the transposed scan is a loop of the chunked backend


def test_an_explicit_backend_that_cannot_run_raises_its_reason():
    complex_a = A.astype(jnp.complex64)
    with pytest.raises(
        backends.UnsupportedScanError, match="'refusing' cannot run this call: complex"
    ):
        linear_scan(complex_a, complex_a, backend=Refusing())
    with backends.use(Refusing()), pytest.raises(backends.UnsupportedScanError, match="complex"):
        linear_scan(complex_a, complex_a)
    h, _ = linear_scan(A, X, backend=Refusing())
    assert jnp.allclose(h, linear_scan(A, X, backend="sequential")[0])


def test_auto_falls_back_with_one_warning_per_reason(monkeypatch):
    monkeypatch.setattr(
        backends.Auto, "preferences", lambda self, a, x: (Refusing(), backends.Sequential())
    )
    complex_a = A.astype(jnp.complex64)
    with pytest.warns(backends.ScanBackendFallbackWarning, match="'refusing' cannot run"):
        linear_scan(complex_a, complex_a, backend="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h, _ = linear_scan(complex_a, complex_a, backend="auto")
        linear_scan(A, X, backend="auto")
    assert jnp.allclose(h, linear_scan(complex_a, complex_a, backend="sequential")[0])


def _in_subprocess(code: str, **environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # two fresh interpreters: CI's slow step
def test_environment_variable_sets_the_default_and_is_validated():
    code = "from hawkzoo import backends; print(backends.current().name)"
    chosen = _in_subprocess(code, **{backends.ENVIRONMENT_VARIABLE: "associative"})
    assert chosen.returncode == 0 and chosen.stdout.strip() == "associative"
    wrong = _in_subprocess(code, **{backends.ENVIRONMENT_VARIABLE: "fastest"})
    assert wrong.returncode != 0
    assert "HAWKZOO_SCAN_BACKEND: unknown scan backend 'fastest'" in wrong.stderr


def test_top_level_reexport():
    assert hawkzoo.linear_scan is backends.linear_scan


def test_the_selection_is_thread_local():
    seen = []
    with backends.use("associative"):
        thread = threading.Thread(target=lambda: seen.append(backends.current().name))
        thread.start()
        thread.join()
        assert backends.current().name == "associative"
    assert seen == ["auto"]


def rg_lrus(model) -> list[hawkzoo.nn.RGLRU]:
    layers = jax.tree.leaves(model, is_leaf=lambda node: isinstance(node, hawkzoo.nn.RGLRU))
    return [layer for layer in layers if isinstance(layer, hawkzoo.nn.RGLRU)]


def test_the_layer_field_wins_over_the_context_and_comes_from_the_config():
    config = hawkzoo.model.preset("tiny-griffin").replace(num_layers=4, scan_backend="chunked")
    model = hawkzoo.LanguageModel(config, key=jax.random.key(0))
    assert [layer.backend for layer in rg_lrus(model)] == [backends.Chunked()] * 3
    tokens = jnp.arange(8)
    with backends.use("associative"):  # the layers' field is ahead of the context
        assert traced_backends(lambda m: m(tokens, tokens)[0], model) == {"chunked"}
    with pytest.raises(
        ValueError, match=r"scan_backend must be one of .*sequential.* or None, got 'nope'"
    ):
        config.replace(scan_backend="nope")


@pytest.mark.parametrize("jit", [jax.jit, eqx.filter_jit], ids=["jax.jit", "eqx.filter_jit"])
def test_set_backend_changes_every_layer_and_jit_retraces(jit):
    layer = hawkzoo.nn.RGLRU(8, 2, key=jax.random.key(0))
    pair = (layer, hawkzoo.nn.RGLRU(8, 2, backend="associative", key=jax.random.key(1)))
    traces = []

    @jit
    def outputs(pair, x, segment_pos):
        traces.append([backends.current().name])
        return [layer(x, segment_pos)[0] for layer in pair]

    x, segment_pos = jnp.ones((6, 8)), jnp.arange(6)
    expected = outputs(pair, x, segment_pos)
    for backend in ["chunked", None, backends.Chunked(chunk_size=2)]:
        changed = backends.set_backend(pair, backend)
        want = None if backend is None else backends.get(backend)
        assert [layer.backend for layer in changed] == [want, want]
        got = outputs(changed, x, segment_pos)
        assert all(jnp.allclose(g, e, atol=1e-6) for g, e in zip(got, expected, strict=True))
        scopes = traced_backends(lambda pair: outputs(pair, x, segment_pos), changed)
        assert scopes == {"sequential"} if backend is None else {want.name}  # pyright: ignore[reportOptionalMemberAccess]
    assert len(traces) == 4  # one trace per distinct choice of fields
