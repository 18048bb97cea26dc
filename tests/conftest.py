import os

import hypothesis
import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
# No machine's `hawkzoo doctor` cache steers `auto` here; the tests that need one make it.
os.environ["HAWKZOO_DOCTOR_CACHE"] = "0"
# Eight simulated devices for the sharding tests; set before JAX starts its backends.
jax.config.update("jax_num_cpu_devices", 8)

# Compiles dominate, so every example of a test reuses one compiled program: shapes are
# fixed by the test case and Hypothesis draws values. `quick` is the default (CI);
# HAWKZOO_TEST_PROFILE=thorough draws twenty times as many, randomised.
_common = hypothesis.settings(
    deadline=None, database=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.register_profile("quick", _common, max_examples=3, derandomize=True)
hypothesis.settings.register_profile("thorough", _common, max_examples=60, derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HAWKZOO_TEST_PROFILE", "quick"))

# Tests marked `slow` (minutes each: whole runs in subprocesses) run when
# HAWKZOO_TEST_SLOW=1 or under the thorough profile; CI runs them in a step of their own.
RUN_SLOW = os.environ.get("HAWKZOO_TEST_SLOW", "") not in ("", "0") or (
    os.environ.get("HAWKZOO_TEST_PROFILE") == "thorough"
)


def pytest_collection_modifyitems(config, items):
    if RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow: HAWKZOO_TEST_SLOW=1 runs it (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sentencepiece_model(tmp_path_factory) -> str:
    """A small model with RecurrentGemma's special ids (pad 0, EOS 1, BOS 2) and turn markers."""
    sentencepiece = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    corpus.write_text(
        "\n".join(f"the quick brown fox {i} jumps over the lazy dog" for i in range(300))
    )
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "tokenizer"),
        vocab_size=64,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        minloglevel=2,
    )
    return str(folder / "tokenizer.model")
