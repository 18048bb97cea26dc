"""`--backend` on every command (what ran, read from the lowered programs), and what
`hawkzoo train` prints."""

import contextlib
import io
import re
from pathlib import Path

import jax
import pytest

from hawkzoo import backends
from hawkzoo.cli import main

SMALL = [  # a two-block Hawk on a three-file corpus: seconds in all
    "--preset", "tiny-hawk", "--seq-len", "32", "--batch-size", "4", "--steps", "2",
    "--set", "model.num_layers=2", "--set", "eval_rows=4", "--set", "sample_tokens=4",
    "--set", "log_every=1", "--no-progress",
]  # fmt: skip


@contextlib.contextmanager
def lowered(folder: Path):
    """Yields a dict, filled on exit: each program lowered in the block (by its function's
    name) and the scan backends whose named scopes its text holds."""
    previous = jax.config.read("jax_dump_ir_to")
    jax.config.update("jax_dump_ir_to", str(folder))
    scopes: dict[str, set[str]] = {}
    try:
        yield scopes
    finally:
        jax.config.update("jax_dump_ir_to", previous)
    for file in sorted(folder.glob("*.mlir")):
        name = re.fullmatch(r"jax_ir\d+_jit_(\w+?)_compile\.mlir", file.name)
        text = file.read_text()
        found = {b for b in backends.registered() if f"hawkzoo.backends.{b}" in text}
        if name and found:
            scopes.setdefault(name[1], set()).update(found)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run trained with `--backend chunked`, what its programs ran, and what it printed."""
    root = tmp_path_factory.mktemp("backend")
    text = root / "text"
    text.mkdir()
    for i in range(3):
        (text / f"{i}.txt").write_text(f"document {i}: " + "the quick brown fox " * 20)
    printed = io.StringIO()
    with lowered(root / "train-programs") as scopes, contextlib.redirect_stdout(printed):
        flags = ["--data", str(text), "--backend", "chunked", "--out", str(root / "run")]
        code = main(["train", *SMALL, *flags])
    assert code == 0
    return root / "run", scopes, printed.getvalue()


def test_train_runs_its_steps_evaluations_and_final_sample_under_the_backend(run):
    _, scopes, _ = run
    assert {"train_step", "evaluate", "prefill_batch"} <= set(scopes)
    assert all(found == {"chunked"} for found in scopes.values()), scopes


@pytest.mark.slow  # two evaluations lowered and run: 21 s
def test_eval_runs_the_recorded_backend_unless_told_another(run, tmp_path, capsys):
    folder, *_ = run
    for given, expected in [([], "chunked"), (["--backend", "sequential"], "sequential")]:
        flags = ["--position-length", "64", "--out", str(tmp_path / expected)]
        with lowered(tmp_path / f"{expected}-programs") as scopes:
            assert main(["eval", str(folder), *flags, *given]) == 0
        assert scopes and all(found == {expected} for found in scopes.values()), scopes
    capsys.readouterr()


def test_sample_runs_the_backend_it_is_given(run, tmp_path, capsys):
    folder, *_ = run
    flags = ["--prompt", "the quick", "--max-new-tokens", "2", "--backend", "chunked"]
    with lowered(tmp_path) as scopes:
        assert main(["sample", str(folder), *flags]) == 0
    assert scopes == {"prefill_batch": {"chunked"}}  # not auto's choice here, sequential
    assert capsys.readouterr().out.startswith("the quick")


@pytest.mark.parametrize("command", ["sample tiny-hawk --prompt x", "eval RUN"])
def test_an_unknown_backend_is_one_line_before_any_work(command, run, capsys):
    args = command.replace("RUN", str(run[0])).split()
    assert main([*args, "--backend", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scan backend 'nope'; registered:" in err


def test_without_a_progress_bar_train_prints_a_line_every_log_every_steps(run):
    *_, printed = run
    lines = [line for line in printed.splitlines() if re.match(r"step \d+: loss", line)]
    assert [line.split(":")[0] for line in lines] == ["step 1", "step 2"]
    assert all(re.search(r"loss \d+\.\d{4}, \d+ tokens/s$", line) for line in lines), lines


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rows", "0"], "--rows must be a positive integer, got 0"),
        (["--lengths", "abc"], "--lengths must be positive integers, comma-separated; got 'abc'"),
        (["--lengths", "1,0"], "--lengths must be positive integers"),
        (["--lengths", "1,2"], "--lengths is for task runs; this run trained on text"),
        (["--position-length", "1"], "--position-length must be an integer ≥ 2 or None, got 1"),
    ],
)
def test_bad_eval_flags_are_one_line_before_any_work(flags, message, run, capsys):
    assert main(["eval", str(run[0]), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
