import os

import hypothesis
import jax

jax.config.update("jax_numpy_rank_promotion", "raise")

# Compiles dominate, so every example of a test reuses one compiled program: shapes are
# fixed by the test case and Hypothesis draws values. `quick` is the default (CI);
# HAWKZOO_TEST_PROFILE=thorough draws twenty times as many, randomised.
_common = hypothesis.settings(
    deadline=None, database=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.register_profile("quick", _common, max_examples=3, derandomize=True)
hypothesis.settings.register_profile("thorough", _common, max_examples=60, derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HAWKZOO_TEST_PROFILE", "quick"))
