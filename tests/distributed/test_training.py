"""`hawkzoo train` and `hawkzoo sample` as two processes: the run of one, written once, a
killed process, and checkpoints that move between process counts."""

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
from hawkzoo.sampling import complete
from hawkzoo.tokenizers import ByteTokenizer

SCRIPT = Path(sys.executable).parent / "hawkzoo"
RUN = [  # a two-block Griffin on short rows of this file: seconds a step
    "--preset", "tiny-griffin", "--seq-len", "32", "--batch-size", "4", "--steps", "1000",
    "--data", __file__, "--set", "model.num_layers=2", "--set", "eval_rows=4",
    "--set", "log_every=1", "--set", "eval_every=3", "--set", "checkpoint_every=3",
    "--no-progress",
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
def test_two_processes_train_as_one_stop_when_one_is_killed_and_resume_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    mesh = ["--mesh", "seq=2,data=2"]  # rows, then time, split between the processes
    _hawkzoo("train", *RUN, *mesh, "--cpu-devices", "4", "--stop-after", "6", "--out", one)
    # the same run in two processes, until process 1 is killed after a save
    killed = _killed_after_saving(["train", *RUN, *mesh, "--out", two], two, step=9)
    assert killed.returncode == 128 + signal.SIGKILL, killed.stderr[-3000:]
    assert "process 1 of 2 was killed by SIGKILL; the others were stopped" in killed.stderr
    # its first steps are those of one process, to the bit, each line once (process 0's)
    assert _first_steps(two, 6) == _first_steps(one, 6)
    # its last step loads, and it resumes in one process, on another mesh
    load(two)
    last = max(int(p.name) for p in (two / "checkpoints").iterdir() if p.name.isdigit())
    _hawkzoo("train", "--resume", "--out", two, "--stop-after", str(last + 2), "--cpu-devices",
             "4", "--mesh", "data=2,model=2", "--no-progress")  # fmt: skip
    assert [e["step"] for e in _metrics(two) if "loss" in e] == list(range(1, last + 3))
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(load(two)))
    # a checkpoint of one process samples in two greedily as on one device, printed once
    sampled = _hawkzoo(
        "launch", "--processes", "2", "--devices-per-process", "2", "--", "sample", one,
        "--prompt", "de", "--prompt", "x", "--mesh", "data=2,model=2", "--temperature", "0",
        "--max-new-tokens", "6",
    )  # fmt: skip
    completions = complete(
        load(one), ByteTokenizer(), ["de", "x"], max_new_tokens=6, temperature=0.0
    )
    alone = f"de{completions[0].text}\nx{completions[1].text}\n"
    assert sampled.stdout.endswith(alone)  # gloo's lines on connecting come first
    assert sampled.stdout.count(alone) == 1


def _first_steps(run: Path, steps: int) -> list[dict]:
    """The metrics of the first `steps` steps, less the evaluations after the last."""
    return [e for e in _metrics(run) if e["step"] < steps or (e["step"] == steps and "loss" in e)]


def _killed_after_saving(
    command: list[str | Path], run: Path, step: int
) -> subprocess.CompletedProcess:
    """Run `command` under `hawkzoo launch` as two processes of two devices, and kill
    process 1 once `run` has `step` saved and sealed: the launcher's result, which must
    come within 30 s."""
    launcher = subprocess.Popen(
        [SCRIPT, "launch", "--processes", "2", "--devices-per-process", "2", "--", *command],
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
