"""`hawkzoo train` as two processes: the run of one, its files written once, checkpoints
that resume under another process count, and a killed process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from hawkzoo.checkpoints import load

SCRIPT = Path(sys.executable).parent / "hawkzoo"
RUN = [  # a two-block Griffin on short rows of this file: seconds a step
    "--preset", "tiny-griffin", "--seq-len", "32", "--batch-size", "4", "--steps", "6",
    "--data", __file__, "--set", "model.num_layers=2", "--set", "eval_rows=4",
    "--set", "log_every=1", "--set", "eval_every=3", "--set", "checkpoint_every=3",
    "--set", "sample_tokens=4", "--no-progress",
]  # fmt: skip


def _hawkzoo(*args: str | Path) -> subprocess.CompletedProcess:
    done = subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _metrics(run: Path) -> list[dict]:
    """Every entry of the run's metrics, less its timings."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in lines]


@pytest.mark.slow
def test_two_processes_train_as_one_and_checkpoints_move_between_process_counts(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    launched = _hawkzoo(
        "launch", "--processes", "2", "--devices-per-process", "2", "--",
        "train", *RUN, "--mesh", "data=2,model=2", "--out", two,
    )  # fmt: skip
    _hawkzoo("train", *RUN, "--mesh", "data=2,model=2", "--cpu-devices", "4", "--out", one)
    # the same run, to the bit; each line once, from process 0
    assert _metrics(two) == _metrics(one)
    assert launched.stdout.count("saved ") == 1 and launched.stdout.count("--- a sample") == 1
    assert (two / "sample.txt").read_text() == (one / "sample.txt").read_text()
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["3", "6"]
    # two processes sample as one does, and print once
    sample = ["sample", two, "--prompt", "de", "--prompt", "x", "--mesh",
              "data=2,model=2", "--temperature", "0", "--max-new-tokens", "6"]  # fmt: skip
    sampled = _hawkzoo("launch", "--processes", "2", "--devices-per-process", "2", "--", *sample)
    alone = _hawkzoo(*sample, "--cpu-devices", "4")
    assert sampled.stdout.endswith(alone.stdout) and alone.stdout.count("\n") == 2
    assert sampled.stdout.count(alone.stdout) == 1  # gloo's lines on connecting come first
    # the run of one process resumed by two on another mesh, until one of them is killed
    killed = _killed_after_saving(one, step=9)
    assert killed.returncode == 128 + signal.SIGKILL, killed.stderr[-3000:]
    assert "process 1 of 2 was killed by SIGKILL; the others were stopped" in killed.stderr
    # the last good step loads; the run saved by two processes resumes in one, on
    # another mesh, its metrics those of the steps it saved
    load(one)
    last = max(int(p.name) for p in (one / "checkpoints").iterdir() if p.name.isdigit())
    _hawkzoo("train", "--resume", "--out", one, "--stop-after", str(last + 2), "--cpu-devices",
             "4", "--mesh", "data=2,seq=2", "--no-progress")  # fmt: skip
    assert [e["step"] for e in _metrics(one) if "loss" in e] == list(range(1, last + 3))
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(load(one)))


def _killed_after_saving(run: Path, step: int) -> subprocess.CompletedProcess:
    """Resume `run` under `hawkzoo launch` as two processes, and kill process 1 once
    `step` is saved and sealed: the launcher's result, which must come within 30 s."""
    launcher = subprocess.Popen(
        [SCRIPT, "launch", "--processes", "2", "--devices-per-process", "2", "--", "train",
         "--resume", "--out", run, "--steps", "10000", "--mesh", "seq=2,data=2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sealed, deadline = run / "checkpoints" / str(step) / "checksums.json", time.monotonic() + 300
    while not sealed.exists():
        assert launcher.poll() is None and time.monotonic() < deadline, "no step saved"
        time.sleep(0.1)
    os.kill(_child(launcher.pid, process_id=1), signal.SIGKILL)
    start = time.monotonic()
    stdout, stderr = launcher.communicate(timeout=60)
    assert time.monotonic() - start < 30
    return subprocess.CompletedProcess(launcher.args, launcher.returncode, stdout, stderr)


def _child(parent: int, process_id: int) -> int:
    """The pid of the launched process `process_id` of the launcher `parent`."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for pid in map(int, children):
        if f"HAWKZOO_PROCESS_ID={process_id}\0" in Path(f"/proc/{pid}/environ").read_text():
            return pid
    raise AssertionError(f"no process {process_id} among {children}")
