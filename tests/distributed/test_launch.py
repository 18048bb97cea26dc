"""Several processes as one program, on loopback: `hawkzoo launch` and
`hawkzoo.distributed.initialize`."""

import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from hawkzoo import checkpoints, distributed
from hawkzoo.cli import main
from hawkzoo.errors import InputError
from hawkzoo.model import build

from .losses_and_gradients import MODELS

SCRIPT = Path(sys.executable).parent / "hawkzoo"
HERE = Path(__file__).parent


def _launch(processes: int, devices: int, *command: str, timeout: int = 300):
    return subprocess.run(
        [SCRIPT, "launch", "--processes", str(processes), "--devices-per-process", str(devices),
         "--", *command],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_two_processes_of_two_devices_give_the_losses_and_gradients_of_one_of_four(tmp_path):
    """Tiny Hawk, Griffin and MQA on data × model and seq × data meshes, each process
    feeding its share of the batch; and the models saved split over both processes load
    whole."""
    script = str(HERE / "losses_and_gradients.py")
    for processes, devices in ((2, 2), (1, 4)):
        done = _launch(processes, devices, sys.executable, script, str(tmp_path / f"{processes}"))
        assert done.returncode == 0, done.stderr[-3000:]
    two, one = np.load(tmp_path / "2.npz"), np.load(tmp_path / "1.npz")
    assert sorted(two.files) == sorted(one.files) and len(two.files) > 6
    for name in two.files:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
    for preset, changes in MODELS.items():
        saved = jax.tree.leaves(checkpoints.load(tmp_path / f"2-{preset}"))
        built = jax.tree.leaves(build(preset, key=jax.random.key(0), **changes))
        assert len(saved) == len(built)
        for got, expected in zip(saved, built, strict=True):
            np.testing.assert_array_equal(got, expected)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


ENDING = """
import os, signal, sys, time
if os.environ["HAWKZOO_PROCESS_ID"] == "1":
    os.kill(os.getpid(), signal.SIGKILL) if sys.argv[1] == "killed" else sys.exit(3)
time.sleep(60)
"""


@pytest.mark.parametrize(
    "how, code, said",
    [("exits", 3, "exited with code 3"), ("killed", 128 + 9, "was killed by SIGKILL")],
)
def test_the_first_process_to_fail_stops_the_others_and_is_named(how, code, said, capsys):
    start = time.monotonic()
    assert distributed.launch([sys.executable, "-c", ENDING, how], processes=3) == code
    assert time.monotonic() - start < 30  # the others, asleep for 60 s, were stopped
    assert f"process 1 of 3 {said}; the others were stopped" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--processes", "0", "--", "train"], "processes must be a positive integer"),
        (["--processes", "2", "--devices-per-process", "0", "--", "train"], "devices_per_process"),
        (["--processes", "2"], "give the command to launch"),
    ],
)
def test_bad_launches_exit_with_the_reason(flags, message, capsys):
    assert main(["launch", *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_partial_environment_is_refused_naming_what_is_missing(monkeypatch):
    monkeypatch.setenv("HAWKZOO_COORDINATOR_ADDRESS", "127.0.0.1:1234")
    monkeypatch.delenv("HAWKZOO_NUM_PROCESSES", raising=False)
    monkeypatch.setenv("HAWKZOO_PROCESS_ID", "0")
    with pytest.raises(InputError, match="HAWKZOO_NUM_PROCESSES not set"):
        distributed.initialize()
    monkeypatch.setenv("HAWKZOO_NUM_PROCESSES", "two")
    with pytest.raises(InputError, match="HAWKZOO_NUM_PROCESSES='two' is not an integer"):
        distributed.initialize()


def test_a_command_of_one_process_is_refused_under_the_launcher(monkeypatch, capsys):
    monkeypatch.setenv("HAWKZOO_COORDINATOR_ADDRESS", "127.0.0.1:1")
    assert main(["doctor"]) == 2  # before it joins anything: this process carries on
    assert "hawkzoo doctor runs as one process: under hawkzoo launch" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--coordinator", "127.0.0.1:1"], "--num-processes, --process-id not given"),
        (["--cluster", "--process-id", "1"], "--cluster finds the processes itself"),
        (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
         "process_id must be"),
        (["--coordinator", "nowhere", "--num-processes", "2", "--process-id", "1"],
         "the coordinator's address 'nowhere' is not HOST:PORT"),
    ],
)  # fmt: skip
def test_bad_process_flags_exit_with_the_reason(flags, message, capsys):
    assert main(["sample", "tiny-hawk", "--prompt", "x", *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_coordinator_that_does_not_answer_is_named():
    with pytest.raises(InputError, match=r"no coordinator answered at 127\.0\.0\.1:1 within 1 s"):
        distributed.initialize("127.0.0.1:1", 2, 1, timeout_s=1)


def test_no_cluster_to_join_is_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAWKZOO_", "SLURM_"))}
    done = subprocess.run(
        [SCRIPT, "train", "--cluster", "--steps", "1"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("hawkzoo train: error: no cluster found to join")
    assert done.stderr.count("\n") == 1
