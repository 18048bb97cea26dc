"""`hawkzoo sample`, as a user runs it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from hawkzoo import checkpoints
from hawkzoo.cli import main
from hawkzoo.model import LanguageModel, build, preset

SCRIPT = Path(sys.executable).parent / "hawkzoo"


@pytest.mark.slow
def test_the_installed_command_samples_a_tiny_preset_with_random_weights():
    result = subprocess.run(
        [SCRIPT, "sample", "tiny-griffin", "--prompt", "Hello", "--max-new-tokens", "8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello")


def test_a_saved_checkpoint_samples_greedily_the_same_as_the_preset_it_came_from(tmp_path, capsys):
    checkpoints.save(tmp_path / "hawk", build("tiny-hawk", key=jax.random.key(0)))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\n\ntwo, three\n")
    flags = ["--prompts-file", str(prompts), "--temperature", "0", "--max-new-tokens", "6"]
    assert main(["sample", str(tmp_path / "hawk"), *flags]) == 0
    from_checkpoint = capsys.readouterr().out
    assert main(["sample", "tiny-hawk", "--seed", "0", *flags]) == 0
    from_preset = capsys.readouterr().out
    assert from_checkpoint == from_preset
    assert from_checkpoint.startswith("one") and "two, three" in from_checkpoint


def test_a_draft_gives_the_greedy_text_of_no_draft(tmp_path, capsys):
    checkpoints.save(tmp_path / "draft", build("tiny-hawk", key=jax.random.key(1)))
    flags = ["sample", "tiny-griffin", "--prompt", "Hi", "--temperature", "0"]
    assert main(flags) == 0
    plain = capsys.readouterr().out
    assert main([*flags, "--draft", str(tmp_path / "draft"), "--draft-tokens", "3"]) == 0
    assert capsys.readouterr().out == plain
    other = LanguageModel(preset("tiny-hawk", vocab_size=300), key=jax.random.key(1))
    checkpoints.save(tmp_path / "other", other)
    assert main([*flags, "--draft", str(tmp_path / "other")]) == 2
    assert "the draft's vocabulary has 300 tokens" in capsys.readouterr().err


def test_streaming_prints_the_same_text_as_it_comes(capsys):
    flags = ["sample", "tiny-hawk", "--prompt", "Hi", "--temperature", "0", "--max-new-tokens", "8"]
    assert main(flags) == 0
    whole = capsys.readouterr().out
    assert main([*flags, "--stream"]) == 0
    assert capsys.readouterr().out == whole


def test_several_prompts_stream_a_line_at_a_time_by_row_with_control_bytes_escaped(capsys):
    flags = ["sample", "tiny-hawk", "--temperature", "0", "--max-new-tokens", "24"]
    prompts = ["--prompt", "one\ntwo", "--prompt", "red \x1b[31m"]
    assert main([*flags, *prompts]) == 0
    whole = capsys.readouterr().out
    assert "\x1b" not in whole and "red \\x1b[31m" in whole
    assert main([*flags, *prompts, "--stream"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[0] one" and all(re.match(r"\[[01]\] ", line) for line in lines)
    rows = ["\n".join(line[4:] for line in lines if line.startswith(f"[{row}]")) for row in "01"]
    assert "\n".join(rows) + "\n" == whole  # the same text, each row's lines in order


@pytest.mark.parametrize(
    "flags, message",
    [
        (["tiny-hawk"], "give a prompt with --prompt or --prompts-file"),
        (
            ["tiny-hawk", "--prompt", "x", "--top-p", "1.5"],
            r"top_p must be a number in \(0, 1\] or None",
        ),
        (["tiny-hawk", "--prompt", "x", "--top-k", "0"], "top_k must be a positive integer"),
        (["tiny-hawk", "--prompt", "x", "--temperature", "inf"], "temperature must be a finite"),
        (["tiny-hawk", "--prompt", "x", "--seed", "-1"], r"--seed must be an integer in \[0, "),
        (
            ["tiny-hawk", "--prompt", "x", "--stop", "99999"],
            r"a stop token must be an integer in \[0, 511\], got 99999",
        ),
        (["no-such-model", "--prompt", "x"], "is neither a preset nor a checkpoint folder"),
        (["tiny-hawk", "--prompt", "x", "--tokenizer", "missing.model"], "no SentencePiece model"),
        (
            ["tiny-hawk", "--prompt", "a long prompt", "--max-length", "8"],
            "exceed max_length=8",
        ),
        (["tiny-hawk", "--prompt", "x", "--mesh", "seq=8"], "splits over data, model, not seq"),
        (["tiny-hawk", "--prompt", "x", "--draft", "missing"], "is not a checkpoint or run"),
        (
            ["tiny-hawk", "--prompt", "x", "--draft", "missing", "--draft-tokens", "0"],
            "--draft-tokens must be a positive integer",
        ),
        (["tiny-hawk", "--prompt", "x", "--draft", "missing", "--stream"], "does not go with"),
    ],
)
def test_bad_input_exits_with_the_reason(flags, message, capsys):
    assert main(["sample", *flags]) == 2
    error = capsys.readouterr().err
    assert error.startswith("hawkzoo sample: error:") and re.search(message, error), error


def test_a_checkpoint_samples_with_the_tokenizer_beside_it_and_a_large_vocabulary_needs_one(
    sentencepiece_model, tmp_path, capsys
):
    prompt = ["--prompt", "the fox", "--max-new-tokens", "1"]
    small = checkpoints.save(
        tmp_path / "small", build("tiny-hawk", key=jax.random.key(0), num_layers=1, vocab_size=32)
    )
    shutil.copyfile(sentencepiece_model, small / "tokenizer.model")  # 64 ids: too many
    assert main(["sample", str(small), *prompt]) == 2  # so it was found
    assert "the tokenizer has 64 ids, the model's vocabulary 32" in capsys.readouterr().err
    large = checkpoints.save(
        tmp_path / "large", build("tiny-hawk", key=jax.random.key(0), num_layers=1, vocab_size=2048)
    )
    assert main(["sample", str(large), *prompt]) == 2
    assert "2,048 token ids and no tokenizer.model beside it" in capsys.readouterr().err
    assert main(["sample", str(large), *prompt, "--tokenizer", "bytes"]) == 0
    shutil.copyfile(sentencepiece_model, large / "tokenizer.model")
    assert main(["sample", str(large), *prompt]) == 0
