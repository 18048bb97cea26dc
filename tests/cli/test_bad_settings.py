"""Every training setting, given a value of the wrong type or out of its range on the
command line: one line naming the setting, exit code 2, and no work done (no run folder)."""

import dataclasses
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hawkzoo.cli import main
from hawkzoo.training import TrainConfig

WRONG_FOR_A_NUMBER = st.one_of(st.booleans(), st.text("abc", min_size=1), st.just([1]))
WRONG_FOR_TEXT = st.one_of(st.booleans(), st.integers(), st.floats(), st.just(["a"]))
NOT_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])


def integers_below(minimum: int):
    return st.one_of(WRONG_FOR_A_NUMBER, st.integers(max_value=minimum - 1), st.floats(2, 9))


def numbers_outside(low: float, high: float, *, low_in: bool, high_in: bool):
    below = st.floats(max_value=low, exclude_max=low_in, allow_infinity=False, allow_nan=False)
    above = st.floats(min_value=high, exclude_min=high_in, allow_infinity=False, allow_nan=False)
    return st.one_of(WRONG_FOR_A_NUMBER, NOT_FINITE, below, above if high < math.inf else below)


BAD = {  # each setting: values it must refuse
    "preset": WRONG_FOR_TEXT | st.just("no-such-preset"),
    "model": st.one_of(st.integers(), st.text("ab"), st.just([1])),
    "initialize_from": WRONG_FOR_TEXT | st.just("no/such/checkpoint"),
    "task": st.one_of(st.integers(), st.booleans(), st.just("no-such-task")),
    "task_options": st.one_of(st.integers(), st.text("ab"), st.just([1])),
    "data": WRONG_FOR_TEXT,
    "tokenizer": WRONG_FOR_TEXT | st.just("no/such/tokenizer.model"),
    "seq_len": integers_below(2),
    "steps": integers_below(1),
    "batch_size": integers_below(1),
    "accumulate": integers_below(1) | st.just(3),  # 16 rows do not split into 3
    "learning_rate": numbers_outside(0, math.inf, low_in=False, high_in=False),
    "warmup": st.one_of(
        WRONG_FOR_A_NUMBER, st.integers(max_value=-1), st.floats(1, 9, exclude_min=True)
    ),
    "final_learning_rate_fraction": numbers_outside(0, 1, low_in=True, high_in=True),
    "b1": numbers_outside(0, 1, low_in=True, high_in=False),
    "b2": numbers_outside(0, 1, low_in=True, high_in=False),
    "weight_decay": numbers_outside(0, math.inf, low_in=True, high_in=False),
    "no_decay": st.one_of(st.integers(), st.booleans(), st.just([1, 2])),
    "clip_norm": numbers_outside(0, math.inf, low_in=False, high_in=False),
    "seed": integers_below(0) | st.integers(min_value=2**32, max_value=2**62),
    "backend": st.one_of(st.integers(), st.booleans(), st.just("fastest")),
    "log_every": integers_below(1),
    "eval_every": integers_below(1),
    "eval_rows": integers_below(1),
    "checkpoint_every": integers_below(1),
    "keep_checkpoints": integers_below(1),
    "async_checkpoints": st.one_of(st.integers(), st.text("ab"), st.just([True])),
    "sample_prompt": WRONG_FOR_TEXT,
    "sample_tokens": integers_below(0),
    "trackers": st.one_of(
        st.integers(), st.text("ab", min_size=1), st.just(["mlflow"]), st.just([1])
    ),
}


def test_every_setting_has_bad_values_here():
    assert set(BAD) == {field.name for field in dataclasses.fields(TrainConfig)}


def toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    return json.dumps(value)  # ints, finite floats and strings are the same in TOML


@pytest.mark.parametrize("name", sorted(BAD))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys: read each time
@given(data=st.data())
def test_a_bad_setting_is_one_line_naming_it_before_any_work(name, data, tmp_path_factory, capsys):
    value = data.draw(BAD[name], label="value")
    out = tmp_path_factory.mktemp("bad") / "run"
    assert main(["train", "--set", f"{name}={toml(value)}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hawkzoo train: error: "), err
    named = {"preset": "preset", "task": "task", "model": "TrainConfig.model"}
    assert named.get(name, f"TrainConfig.{name}") in err, err
    assert not out.exists()
