"""`train`'s reporting: whole lines beside the progress bar, throughput without pauses,
trackers and callbacks; and a process's share of each batch."""

import contextlib
import io
import json
import re
import struct

import jax
import numpy as np
import pytest

from hawkzoo.errors import InputError
from hawkzoo.training import TrainConfig, _run, train
from hawkzoo.training._config import make_config


@pytest.mark.slow  # a run of its own with a progress bar: 17 s
def test_evaluation_lines_start_on_a_line_of_their_own_beside_the_bar(tmp_path):
    text = tmp_path / "text"
    text.mkdir()
    for i in range(3):
        (text / f"{i}.txt").write_text(f"document {i}: " + "the quick brown fox " * 20)
    config = TrainConfig(
        preset="tiny-hawk", model={"num_layers": 2}, data=str(text), seq_len=32, batch_size=4,
        steps=2, eval_every=1, eval_rows=4, sample_tokens=0,
    )  # fmt: skip
    terminal = io.StringIO()  # the bar (stderr) and the lines (stdout) on one screen
    with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
        train(config, tmp_path / "run", progress=True)
    shown = terminal.getvalue()
    assert "1/2" in shown  # the bar was drawn
    assert re.search(r"(^|[\r\n])step 1: loss \d\.\d{4}, held out bits per byte", shown), shown


def test_throughput_leaves_paused_time_out(monkeypatch):
    clock = iter([0.0, 1.0, 5.0, 6.0, 7.0])
    monkeypatch.setattr(_run.time, "perf_counter", lambda: next(clock))
    meter = _run._Throughput(step=0, tokens_per_step=100)  # started at 0 s
    with meter.paused():  # from 1 s to 5 s
        pass
    assert meter.rate(2) == 100 * 2 / 2  # read at 6 s: 2 steps in 6 - 4 seconds
    assert meter.rate(3) == 100  # read at 7 s: 1 step in 1 second


def _event_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """The scalars of TensorBoard event files (records: length, its CRC, an Event, a CRC)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for file in sorted(folder.glob("events.out.tfevents.*")):
        data, at = file.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])  # pyright: ignore[reportAttributeAccessIssue]
            at += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def _wandb_history(folder) -> dict[int, dict[str, float]]:
    """The history rows of an offline W&B run's `.wandb` file, by step (a LevelDB-style log
    after a 7-byte header: 32 KiB blocks of records, each a CRC, a length, a type and part
    of a `Record`)."""
    from wandb.proto import wandb_internal_pb2

    (file,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    data, at, pending, rows = file.read_bytes(), 7, b"", {}
    while at + 7 <= len(data):
        if 32768 - at % 32768 < 7:  # a block's tail too short for a header
            at += 32768 - at % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        pending, at = pending + data[at + 7 : at + 7 + length], at + 7 + length
        if kind in (1, 4):  # a whole record, or its last part
            record = wandb_internal_pb2.Record.FromString(pending)  # pyright: ignore[reportAttributeAccessIssue]
            pending = b""
            items = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            if "_step" in items:
                rows[items.pop("_step")] = items
    return rows


def test_metrics_reach_the_callbacks_and_the_trackers_as_they_reach_the_jsonl(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    config = TrainConfig(
        preset="tiny-hawk", model={"num_layers": 1}, data=str(text), seq_len=32, batch_size=4,
        steps=3, log_every=1, eval_every=2, eval_rows=4, sample_tokens=0,
        trackers=["tensorboard", "wandb"],
    )  # fmt: skip
    seen = []
    train(config, tmp_path / "run", progress=False, log=lambda _: None, callbacks=[seen.append])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert seen == [json.loads(line) for line in lines] and seen[-1]["final"]
    scalars = _event_scalars(tmp_path / "run" / "tensorboard")
    losses = [(entry["step"], entry["loss"]) for entry in seen if "loss" in entry]
    assert [step for step, _ in scalars["loss"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in scalars["loss"]], [v for _, v in losses], rtol=1e-6)
    assert scalars["held_out_bits_per_byte"][0][0] == 2
    assert scalars["final/held_out_bits_per_byte"][0][0] == 3
    history = _wandb_history(tmp_path / "run")
    assert sorted(history) == [1, 2, 3]
    assert [history[step]["loss"] for step, _ in losses] == [loss for _, loss in losses]
    assert history[2]["held_out_bits_per_byte"] == seen[2]["held_out_bits_per_byte"]
    assert history[3]["final/held_out_bits_per_byte"] == seen[-1]["held_out_bits_per_byte"]
    with pytest.raises(
        InputError, match=r"trackers must be a list of tracker names \(tensorboard, wandb\)"
    ):
        config.replace(trackers=["mlflow"])


@pytest.mark.parametrize("source", [{"data": __file__}, {"task": "mqar"}])
def test_a_process_builds_its_block_of_each_batch_alone(source):
    """Rows of each micro-batch and a span of time: a process's share on a data × seq mesh."""
    data = _run._Data(make_config(source | {"batch_size": 8, "accumulate": 2, "seq_len": 64}))
    key = jax.random.key(0)
    whole = data.train_batch(key, 3)
    assert whole.tokens.shape == data.batch_shape == (2, 4, data.config.row_length)
    block = (slice(None), slice(2, 4), slice(16, 48))
    for part, array in zip(data.train_batch(key, 3, block), whole, strict=True):
        np.testing.assert_array_equal(part, array[block])
