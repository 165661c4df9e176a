"""SIGKILLed workers (loadtest/kill20.py, 3 kills here): nothing stuck, lost or fired twice."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtest"))

import kill20  # noqa: E402

pytestmark = pytest.mark.integration


def test_a_worker_killed_3_times_leaves_nothing_stuck_lost_or_fired_twice(bootstrap, tmp_path):
    outcome = kill20.run(
        bootstrap, kills=3, events=5_000, seed=2, max_delay=6.0, logs=tmp_path, say=lambda _: None
    )
    assert len(outcome.kills) == 3
    assert len(outcome.malformed) == 4 * kill20.BAD_PER_SLICE
    assert kill20.check(outcome) == [], kill20.summary(outcome)
