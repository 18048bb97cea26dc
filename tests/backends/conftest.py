import pytest

from hawkzoo.backends import _auto, _trust


@pytest.fixture
def doctor_cache(tmp_path, monkeypatch):
    """A `hawkzoo doctor` cache file of the test's own (none written yet), and no warning
    given so far."""
    path = tmp_path / "doctor.json"
    monkeypatch.setenv(_trust.CACHE_VARIABLE, str(path))
    monkeypatch.setattr(_trust, "_warned", set())
    monkeypatch.setattr(_auto, "_warned", set())
    return path
