"""`train`'s reporting: whole lines beside the progress bar, throughput without pauses."""

import contextlib
import io
import re

import pytest

from hawkzoo.training import TrainConfig, _run, train


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
