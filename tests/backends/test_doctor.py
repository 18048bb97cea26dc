"""`hawkzoo doctor` and what `auto` trusts: the oracle's verdicts, the cache and the record."""

import json
import pathlib
import warnings

import jax.numpy as jnp
import pytest

from hawkzoo import backends, cli
from hawkzoo.backends import _platform, _registry, _trust, _verify

A = jnp.full((8, 4), 0.5)
X = jnp.ones((8, 4))


class Broken(backends.Sequential):
    """A kernel for this CPU whose states come out 1% large."""

    name = "broken"
    kernel_for = "cpu"

    def scan(self, a, x, h0, *, reverse):
        h, h_last = super().scan(a, x, h0, reverse=reverse)
        return h * 1.01, h_last


class Sound(backends.Sequential):
    """A kernel for this CPU that is right."""

    name = "sound"
    kernel_for = "cpu"


@pytest.fixture
def kernels_for_cpu(monkeypatch, doctor_cache):
    """`Broken` and `Sound` registered, for this test only; the doctor runs two cases."""
    monkeypatch.setattr(_registry, "_backends", dict(_registry._backends))
    backends.register(Broken)
    backends.register(Sound)
    monkeypatch.setattr(_verify, "CASES", _verify.CASES[:2])
    return doctor_cache


def test_a_broken_kernel_fails_the_doctor_and_auto_never_picks_it(kernels_for_cpu):
    with pytest.warns(backends.ScanBackendFallbackWarning) as caught:
        assert backends.Auto().preferences(A, X) == (backends.Sequential(),)
    assert [str(w.message).split(" has not")[0] for w in caught] == [
        "auto: scan backend 'broken'",
        "auto: scan backend 'sound'",
    ]

    report = backends.verify(["broken", "sound"], timing=False)
    broken, sound = report.backends
    assert [check.outcome for check in broken.checks] == ["failed", "failed"]
    assert all("h: error" in (check.detail or "") for check in broken.checks)
    assert not broken.verified and sound.verified
    assert (
        "NO: see failures" in report.table() and "broken, float32, h0 and resets" in report.table()
    )
    assert report.auto_picks == "sound"  # verified by this run, through the cache
    assert backends.Auto().preferences(A, X) == (Sound(), backends.Sequential())
    cached = json.loads(kernels_for_cpu.read_text())["entries"]
    assert {entry["backend"]: entry["verified"] for entry in cached} == {
        "broken": False,
        "sound": True,
    }


class Failing(backends.Sequential):
    """A kernel for this CPU that cannot run at all."""

    name = "failing"
    kernel_for = "cpu"

    def scan(self, a, x, h0, *, reverse):
        raise RuntimeError("no kernel image is available\nfor this device")


def test_an_erroring_backend_is_reported_with_its_error(kernels_for_cpu):
    backends.register(Failing)
    (report,) = backends.verify(["failing"], timing=False, cache=False).backends
    assert {check.detail for check in report.checks} == {
        "RuntimeError: no kernel image is available"
    }
    assert not report.verified and not kernels_for_cpu.exists()


def on_h200(monkeypatch):
    monkeypatch.setattr(_platform, "target_platform", lambda: "gpu")
    monkeypatch.setattr(_platform, "device_kind", lambda: "NVIDIA H200")
    monkeypatch.setattr(_platform, "cuda_capability", lambda: (9, 0))


def test_only_a_cache_of_this_device_and_these_versions_is_trusted(monkeypatch, doctor_cache):
    on_h200(monkeypatch)
    _trust.remember({"pallas_gpu": True})
    assert backends.Auto().preferences(A, X)[0] == backends.PallasGPU()
    monkeypatch.setattr(_platform, "device_kind", lambda: "NVIDIA A100")  # a shared home
    assert _trust.verified_by("pallas_gpu") is None
    _trust.remember({"pallas_gpu": False})
    on_h200(monkeypatch)
    assert _trust.verified_by("pallas_gpu") is not None  # each device kind its own entry
    fresh = doctor_cache.read_text()
    for field, value in [("jax", "0.4.1"), ("hawkzoo", "0.0.1")]:
        stale = json.loads(fresh)
        for entry in stale["entries"]:
            entry["key"] = entry["key"] | {field: value}
        doctor_cache.write_text(json.dumps(stale))
        assert _trust.verified_by("pallas_gpu") is None, field
    monkeypatch.setenv(_trust.CACHE_VARIABLE, "0")
    _trust.remember({"pallas_gpu": True})  # the cache is off: nothing written or read
    assert _trust.verified_by("pallas_gpu") is None


@pytest.mark.parametrize("text", ["{not json", '{"format": "other"}', '{"format": 1}', "[]"])
def test_a_corrupt_cache_is_ignored_with_one_warning(monkeypatch, doctor_cache, text):
    on_h200(monkeypatch)
    doctor_cache.write_text(text)
    with pytest.warns(UserWarning, match="ignoring the hawkzoo doctor cache .* cannot be read"):
        assert _trust.verified_by("pallas_gpu") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _trust.verified_by("pallas_gpu") is None
    _trust.remember({"pallas_gpu": True})  # the doctor writes it anew
    assert _trust.verified_by("pallas_gpu") is not None


def test_the_record_makes_auto_trust_a_kernel_on_its_device_kind(monkeypatch, doctor_cache):
    on_h200(monkeypatch)
    entry = {"backend": "pallas_gpu", "platform": "gpu", "device_kind": "NVIDIA H200"}
    monkeypatch.setattr(_trust, "record", lambda: [entry | {"date": "2026-12-02", "jax": "0.11.2"}])
    assert backends.Auto().preferences(A, X)[0] == backends.PallasGPU()
    monkeypatch.setattr(_platform, "device_kind", lambda: "NVIDIA B200")
    with pytest.warns(backends.ScanBackendFallbackWarning, match="not been verified on NVIDIA B2"):
        assert backends.Auto().preferences(A, X)[0] == backends.Chunked()


def test_every_record_entry_is_whole_and_a_kernel_is_recorded_only_on_its_platform():
    entries = _trust.record()
    kernels = {name for name in backends.registered() if backends.get(name).kernel_for}
    for entry in entries:
        assert set(entry) >= {"backend", "platform", "device_kind", "jax", "date", "checks"}
        if entry["backend"] in kernels:
            assert entry["platform"] == backends.get(entry["backend"]).kernel_for


def test_the_command_checks_writes_json_and_refuses_bad_flags(
    tmp_path, capsys, monkeypatch, doctor_cache
):
    monkeypatch.setattr(_verify, "CASES", _verify.CASES[:2])
    out = tmp_path / "report.json"
    assert cli.main(["doctor", "--backend", "sequential", "--no-timing", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sequential" in printed and "2 of 2 passed" in printed and "auto picks here" in printed
    (report,) = json.loads(out.read_text())["backends"]
    assert report["name"] == "sequential" and report["verified"]
    assert len(report["checks"]) == len(_verify.CASES)
    for flags, named in [
        (["--backend", "fastest"], "--backend"),
        (["--model", "griffin-1t"], "--model"),
        (["--repetitions", "0"], "--repetitions"),
        (["--json", str(tmp_path)], "--json"),
    ]:
        assert cli.main(["doctor", *flags]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert named in line


def test_the_support_matrix_in_the_docs_is_generated_from_the_record():
    page = pathlib.Path(__file__).parents[2] / "docs/usage/support-matrix.md"
    assert page.read_text() == backends.support_matrix(), (
        f"{page} is stale: `uv run python docs/support_matrix.py` writes it anew"
    )
