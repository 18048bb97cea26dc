"""`hawkzoo train`, as a user runs it: a run, its resumption, and bad input."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hawkzoo.checkpoints._managed import latest_step, read_record
from hawkzoo.checkpoints._orbax import read_tree
from hawkzoo.cli import main

SCRIPT = Path(sys.executable).parent / "hawkzoo"
SMALL = [  # a two-block Hawk on short rows, this file its corpus: seconds a step and an eval;
    # a gentler schedule than the main job's, whose 6e-3 from step 0 lets Adam magnify the
    # meshes' float rounding beyond the checkpoints' tolerance
    "--preset", "tiny-hawk", "--seq-len", "32", "--batch-size", "4", "--steps", "6",
    "--lr", "3e-3", "--set", "warmup=0.1", "--set", "final_learning_rate_fraction=0.1",
    "--data", __file__,
    "--set", "model.num_layers=2", "--set", "eval_rows=4", "--set", "log_every=1",
    "--set", "sample_tokens=0", "--no-progress",
]  # fmt: skip


def _run(*args: str | Path) -> None:
    result = subprocess.run(
        [SCRIPT, "train", *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr


def _latest(run: Path) -> Path:
    step = latest_step(run)
    assert step is not None
    return step


def _arrays(run: Path) -> list[np.ndarray]:
    """The parameters, optimiser state and key of the run's latest step."""
    import jax

    step = _latest(run)
    trees = [read_tree(step / "params"), read_tree(step / "training")]
    return [np.asarray(leaf) for leaf in jax.tree.leaves(trees)]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """A run of `SMALL` on one device, start to end: what the others must equal."""
    out = tmp_path_factory.mktemp("whole") / "run"
    _run(*SMALL, "--out", out)
    return out


@pytest.mark.slow
def test_a_resumed_run_ends_bitwise_where_an_uninterrupted_one_does(whole, tmp_path):
    """Both legs in fresh processes, as a run killed and restarted would be."""
    resumed = tmp_path / "resumed"
    _run(*SMALL, "--out", resumed, "--stop-after", "3")
    assert read_record(_latest(resumed))["step"] == 3
    _run("--resume", "--out", resumed)
    expected, actual = _arrays(whole), _arrays(resumed)
    assert len(expected) == len(actual) > 10
    assert all(np.array_equal(a, b) for a, b in zip(expected, actual, strict=True))
    assert (whole / "metrics.jsonl").read_text().count("loss") == 6

    def losses(run):
        return [
            json.loads(line).get("loss")
            for line in (run / "metrics.jsonl").read_text().splitlines()
        ]

    assert losses(resumed) == losses(whole)
    assert (resumed / "loss.png").stat().st_size > 0


@pytest.mark.slow
def test_a_run_on_a_mesh_learns_as_on_one_device_and_resumes_on_another_mesh(whole, tmp_path):
    """Half the steps over data and model on 4 devices, the rest over sequence and model on
    8: every axis, and a change of device count between the legs."""
    mesh = tmp_path / "mesh"
    _run(
        *SMALL, "--out", mesh, "--stop-after", "3", "--cpu-devices", "4", "--mesh", "data=2,model=2"
    )
    _run("--resume", "--out", mesh, "--cpu-devices", "8", "--mesh", "seq=4,model=2")

    def losses(run):
        return [
            json.loads(line)["loss"]
            for line in (run / "metrics.jsonl").read_text().splitlines()
            if "loss" in line
        ]

    np.testing.assert_allclose(losses(mesh), losses(whole), rtol=1e-4)
    for got, want in zip(_arrays(mesh), _arrays(whole), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_a_run_on_text_saves_a_checkpoint_that_samples_and_reports_its_corpus(tmp_path, capsys):
    text = tmp_path / "text"
    text.mkdir()
    for i in range(3):
        (text / f"{i}.txt").write_text(f"document {i}: " + "the quick brown fox " * 20)
    flags = [*SMALL, "--steps", "2", "--data", str(text), "--set", "sample_tokens=4"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "3 files" not in out and "2 + 1 held-out files" in out and "--- a sample" in out
    record = read_record(_latest(tmp_path / "run"))
    assert record["corpus"]["name"] == str(text) and len(record["corpus"]["sha256"]) == 64
    assert record["data_position"] == {"rows": 8}
    assert main(["sample", str(_latest(tmp_path / "run")), "--prompt", "doc"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--position-length", "64"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"order-3 byte n-gram +\d\.\d{3}", out) and "gzip -9" in out
    report = json.loads((tmp_path / "run/eval.json").read_text())
    assert set(report["bits_per_byte"]) == {
        "model",
        "order-2 byte n-gram",
        "order-3 byte n-gram",
        "gzip -9",
    }
    assert (
        report["by_position"]["bins"][-1] == [32, 64]
        and (tmp_path / "run/loss-by-position.png").exists()
    )
    (text / "0.txt").write_text("changed")
    assert main(["eval", str(tmp_path / "run")]) == 2
    assert "the corpus differs from the one the model trained on" in capsys.readouterr().err


@pytest.mark.slow  # four runs and a sample: 45 s
def test_fine_tuning_starts_from_a_run_folders_weights_extends_and_samples_from_its_folder(
    tmp_path, capsys
):
    import jax

    flags = [*SMALL, "--steps", "2"]
    base = tmp_path / "base"
    assert main(["train", *flags, "--out", str(base)]) == 0
    # the least step Adam takes, so the fine-tuned weights are the base run's to rounding
    # (a run from random weights ends about 6e-3 from them)
    tuned = ["--initialize-from", str(base), "--lr", "1e-12", "--steps", "1"]
    assert main(["train", *flags, *tuned, "--out", str(tmp_path / "tuned")]) == 0
    before, after = (read_tree(_latest(tmp_path / run) / "params") for run in ("base", "tuned"))
    pairs = list(zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True))
    assert len(pairs) > 10 and all(np.allclose(a, b, rtol=0, atol=1e-9) for a, b in pairs)
    tuned_run = str(tmp_path / "tuned")
    assert main(["train", "--resume", "--steps", "3", "--out", tuned_run]) == 0  # extended
    assert json.loads((tmp_path / "tuned/run.json").read_text())["config"]["steps"] == 3
    lines = (tmp_path / "tuned/metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps[-2:] == [3, 3] and 2 in steps  # the new steps and the final evaluation
    assert main(["sample", tuned_run, "--prompt", "def", "--max-new-tokens", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "2", "--out", tuned_run]) == 2
    assert "is at step 3, past steps=2" in capsys.readouterr().err
    assert main(["train", "--resume", "--lr", "1", "--out", tuned_run]) == 2
    assert "give only --out, and --steps to extend it" in capsys.readouterr().err
    wider = [*flags, "--set", "model.lru_width=64", "--initialize-from", str(base)]
    assert main(["train", *wider, "--out", str(tmp_path / "wider")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"initialize_from {base}: " in error and "shape" in error
    missing = [*flags, "--initialize-from", str(tmp_path / "nothing")]
    assert main(["train", *missing, "--out", str(tmp_path / "x")]) == 2
    assert "initialize_from: no checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # three runs, a sample and an eval: 40 s
def test_a_sentencepiece_run_keeps_its_tokenizer_for_fine_tuning_sampling_and_eval(
    tmp_path, capsys, sentencepiece_model
):
    text = tmp_path / "text"
    text.mkdir()
    for i in range(3):
        (text / f"{i}.txt").write_text(f"the quick brown fox {i} jumps over the lazy dog\n" * 30)
    flags = [*SMALL, "--steps", "2", "--data", str(text)]
    base = tmp_path / "base"
    assert main(["train", *flags, "--tokenizer", sentencepiece_model, "--out", str(base)]) == 0
    assert "as 64 SentencePiece ids" in capsys.readouterr().out
    tuned = tmp_path / "tuned"
    assert main(["train", *flags, "--initialize-from", str(base), "--out", str(tuned)]) == 0
    assert "as 64 SentencePiece ids" in capsys.readouterr().out  # found beside the weights
    kept = Path(sentencepiece_model).read_bytes()
    assert all((run / "tokenizer.model").read_bytes() == kept for run in (base, tuned))
    assert main(["sample", str(tuned), "--prompt", "the quick", "--max-new-tokens", "3"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tuned)]) == 0
    assert "byte-level models only" in capsys.readouterr().out
    final = json.loads((tuned / "metrics.jsonl").read_text().splitlines()[-1])
    report = json.loads((tuned / "eval.json").read_text())
    assert report["bits_per_byte"]["model"] == final["held_out_bits_per_byte"]
    assert main(["train", *flags, "--tokenizer", sentencepiece_model, "--task", "mqar"]) == 2
    assert "TrainConfig.tokenizer is for text" in capsys.readouterr().err


@pytest.mark.slow
def test_a_task_run_reports_accuracy(tmp_path, capsys):
    flags = [*SMALL, "--task", "induction-heads", "--seq-len", "16", "--set", "model.vocab_size=16"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 0
    final = json.loads((tmp_path / "run/metrics.jsonl").read_text().splitlines()[-1])
    assert final["final"] and 0 <= final["accuracy"] <= 1
    assert main(["eval", str(tmp_path / "run"), "--lengths", "1,4", "--rows", "3"]) == 0
    report = json.loads((tmp_path / "run/eval.json").read_text())
    assert report["lengths"] == [16, 64] and all(0 <= a <= 1 for a in report["accuracy"])
    assert main(["eval", str(tmp_path / "run"), "--lengths", "1,x"]) == 2
    assert "--lengths must be positive integers, comma-separated" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--task", "copying"], "unknown task 'copying'"),
        (["--data", "/no/such/path"], "no such file or folder: /no/such/path"),
        (["--task", "selective-copying", "--seq-len", "20"], "needs rows of at least 32 tokens"),
        (["--seq-len", "1"], "seq_len must be an integer ≥ 2"),
        (
            ["--backend", "fast"],
            r"TrainConfig.backend must be one of .*sequential.* or None, got .fast.",
        ),
        (["--set", "model.vocab_size=100"], "set model.vocab_size=256 or more"),
        (["--set", "stepz=3"], "unknown training setting stepz"),
        (["--set", "model.widht=3"], "model: .*widht"),
        (["--set", "steps"], "an override is key=value"),
        (["--batch-size", "6", "--set", "accumulate=4"], "accumulate=4 must divide batch_size=6"),
        (["--resume", "--lr", "3"], "--resume takes the run's settings from its checkpoint"),
        (["--resume"], r"no run to resume in \S+ \(no run.json\)"),
        (["--stop-after", "0"], "stop_after must be a positive integer or None, got 0"),
        (["--mesh", "data=3"], "the mesh data=3 has 3 devices, but there are 8 cpu devices"),
        (
            ["--mesh", "model=8"],
            "num_heads of size 2 does not divide over mesh axis 'model' of size 8",
        ),
        (
            ["--seq-len", "30", "--mesh", "seq=8"],
            "sequence length of size 30 does not divide over mesh axis 'seq' of size 8",
        ),
        (["--mesh", "data=8", "--cpu-devices", "4"], "JAX has started with 8 CPU devices already"),
    ],
)
def test_bad_input_is_one_line_naming_it(flags, message, tmp_path, capsys):
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hawkzoo train: error: "), err
    assert re.search(message, err), err


def test_an_empty_folder_and_an_existing_run_are_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    assert "holds no text" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    (tmp_path / "r/metrics.jsonl").write_text("")
    assert main(["train", "--out", str(tmp_path / "r")]) == 2
    assert "holds a run; continue it with --resume" in capsys.readouterr().err


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    flags = [*SMALL, "--lr", "1e30", "--set", "warmup=0", "--set", "checkpoint_every=1"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the loss is nan at step 2" in err, err
    assert "the last good checkpoint" in err and "step 1" in err
    assert read_record(_latest(tmp_path / "run"))["step"] == 1


@pytest.mark.slow  # a failed run and its resumption: 20 s
def test_a_full_disk_while_saving_keeps_the_last_checkpoint_whole(tmp_path, capsys, monkeypatch):
    import orbax.checkpoint as ocp

    save, calls = ocp.StandardCheckpointHandler.async_save, []

    async def fill_the_disk_on_the_second_save(self, directory, *args, **kwargs):
        calls.append(directory)
        if len(calls) == 4:  # the second step's second tree (its params are written)
            raise ValueError("[Errno 28] No space left on device")  # as Orbax reports it
        return await save(self, directory, *args, **kwargs)

    monkeypatch.setattr(
        ocp.StandardCheckpointHandler, "async_save", fill_the_disk_on_the_second_save
    )
    flags = [*SMALL, "--set", "checkpoint_every=1"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "saving step 2 failed" in err and "No space left" in err and "checkpoints/1" in err
    assert read_record(_latest(tmp_path / "run"))["step"] == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoints",
        "metrics.jsonl",
        "run.json",
    ]
    monkeypatch.undo()
    assert main(["train", "--resume", "--out", str(tmp_path / "run")]) == 0
    kept = sorted(p.name for p in (tmp_path / "run/checkpoints").iterdir())
    assert kept == ["4", "5", "6"]  # the newest 3, and nothing the failed save left
