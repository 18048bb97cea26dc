"""`hawkzoo train` as two processes: the run of one, its files written once, and a
checkpoint that resumes under another process count."""

import json
import subprocess
import sys
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
def test_two_processes_train_as_one_writing_once_and_resume_as_one(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    launched = _hawkzoo(
        "launch", "--processes", "2", "--devices-per-process", "2", "--",
        "train", *RUN, "--mesh", "data=2,model=2", "--out", two,
    )  # fmt: skip
    _hawkzoo("train", *RUN, "--mesh", "data=2,model=2", "--cpu-devices", "4", "--out", one)
    # the same run, to the bit; each line once, from process 0
    assert _metrics(two) == [
        {k: v for k, v in entry.items() if k != "tokens_per_s"}
        | ({"tokens_per_s": got["tokens_per_s"]} if "tokens_per_s" in got else {})
        for entry, got in zip(_metrics(one), _metrics(two), strict=True)
    ]
    assert launched.stdout.count("saved ") == 1 and launched.stdout.count("--- a sample") == 1
    assert (two / "sample.txt").read_text() == (one / "sample.txt").read_text()
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["3", "6"]
    # a checkpoint of two processes resumes in one, on another mesh, and loads
    _hawkzoo("train", "--resume", "--out", two, "--steps", "9", "--cpu-devices", "4",
             "--mesh", "data=2,seq=2", "--no-progress")  # fmt: skip
    assert [e["step"] for e in _metrics(two) if "loss" in e] == list(range(1, 10))
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(load(two)))
