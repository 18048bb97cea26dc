"""Runs interrupted at every point of a save, and damaged checkpoints, as the commands meet
them: each interrupted run continues with `hawkzoo train --resume` alone, and damage is one
line naming the file, never a load."""

import json
import shutil
from pathlib import Path

import pytest

from hawkzoo.checkpoints._managed import latest_step, read_record
from hawkzoo.cli import main

FLAGS = [  # a two-block Hawk on a small text file: fast steps and a fast evaluation
    "--preset", "tiny-hawk", "--seq-len", "32", "--batch-size", "4", "--steps", "4",
    "--data", "text.txt", "--set", "model.num_layers=2", "--set", "eval_rows=4",
    "--set", "log_every=1", "--set", "sample_tokens=0", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A run stopped after step 1 of 4 in a relative `--out`, as the docs show it."""
    root = tmp_path_factory.mktemp("faults")
    (root / "text.txt").write_text("def f(x):\n    return x + 1\n" * 600)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["train", *FLAGS, "--out", "runs/long", "--stop-after", "1"]) == 0
    return root


def _resume(root: Path, monkeypatch, capsys, *flags: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = main(["train", "--resume", "--out", "runs/long", *flags])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _step(run: Path) -> int:
    step = latest_step(run)
    assert step is not None
    return read_record(step)["step"]


def _copy(stopped: Path, tmp_path: Path) -> Path:
    shutil.copytree(stopped, tmp_path, dirs_exist_ok=True)
    return tmp_path / "runs/long"


def _half_written(step: Path, name: str) -> None:
    """What a process killed mid-save leaves: Orbax's temporary folder, part written."""
    shutil.copytree(step, step.parent / name)
    shutil.rmtree(step.parent / name / "training")
    (step.parent / name / "checksums.json").unlink()


def test_a_save_killed_midway_with_a_torn_metrics_line_resumes(
    stopped, tmp_path, monkeypatch, capsys
):
    run = _copy(stopped, tmp_path)
    _half_written(run / "checkpoints/1", "2.orbax-checkpoint-tmp")
    with (run / "metrics.jsonl").open("a") as metrics:
        metrics.write('{"step": 2, "lo')
    code, output = _resume(tmp_path, monkeypatch, capsys, "--stop-after", "2")
    assert code == 0, output
    assert "dropped a partly written last line" in output and "resumed from step 1" in output
    assert _step(run) == 2 and sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "1",
        "2",
    ]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 2]  # step 1's loss (not its final evaluation), step 2's loss and final


def test_a_first_save_killed_midway_resumes_from_step_0(stopped, tmp_path, monkeypatch, capsys):
    run = _copy(stopped, tmp_path)
    _half_written(run / "checkpoints/1", "1.orbax-checkpoint-tmp")
    shutil.rmtree(run / "checkpoints/1")
    code, output = _resume(tmp_path, monkeypatch, capsys, "--stop-after", "1")
    assert code == 0, output
    assert "no checkpoint yet: from step 0" in output and _step(run) == 1
    assert main(["train", *FLAGS, "--out", str(run)]) == 2  # a fresh run is still refused
    assert "holds a run; continue it with --resume" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_one_line_naming_the_file(stopped, tmp_path, monkeypatch, capsys):
    run = _copy(stopped, tmp_path)
    step = run / "checkpoints/1"
    state = max((step / "training").rglob("*"), key=lambda file: file.stat().st_size)
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(data)
    name = state.relative_to(step).as_posix()
    code, output = _resume(tmp_path, monkeypatch, capsys)
    assert code == 2 and output.count("\n") == 1, output
    assert f"is corrupt: {name} does not match the checksum saved with it" in output
    assert main(["sample", str(run), "--prompt", "x"]) == 2
    assert "is corrupt" in capsys.readouterr().err
    (step / "record/training.json").write_text("{}")
    code, output = _resume(tmp_path, monkeypatch, capsys)
    assert code == 2 and "is corrupt: record/training.json has 2 bytes" in output, output


def test_an_unexpected_error_is_one_line_and_its_traceback_is_kept(tmp_path, monkeypatch, capsys):
    from hawkzoo.cli import _sample

    def fail(args):
        raise KeyError("a bug")

    monkeypatch.setattr(_sample, "model_from", fail)
    assert main(["sample", "tiny-hawk", "--prompt", "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error: KeyError: 'a bug'" in err, err
    log = Path(err.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "raise KeyError" in log.read_text()
    with pytest.raises(KeyError):
        main(["sample", "tiny-hawk", "--prompt", "x", "--debug"])
