"""Fuzzing records through decoding and the detectors: no crash, nothing lost.

Every record is either decoded into events or dead-lettered (each array
element one or the other), the fast decode tiers agree with the reference
path, and the detectors take whatever decodes. The fast part runs in
``make test``; the long run is

    HYPOTHESIS_PROFILE=long python -m pytest -q -p no:cacheprovider tests/unit/test_fuzz.py

(20,000 examples per test, or ``HYPOTHESIS_EXAMPLES``; see docs/reliability.md).
"""

from __future__ import annotations

import os

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.decode import decode_batch
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.limits import MAX_NAME_CHARS, MAX_STRING_CHARS
from streamproc.events.validate import decode_record
from tests.unit.decode.test_decode import check

settings.register_profile(
    "fast", max_examples=60, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what JSON encoders write
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.text(min_size=MAX_STRING_CHARS - 1, max_size=MAX_STRING_CHARS + 2).filter(lambda _: True),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.one_of(
    st.sampled_from(["x", "y", "c", "n00", ""]),
    st.text(max_size=6),
    st.text(min_size=MAX_NAME_CHARS, max_size=MAX_NAME_CHARS + 1),
)
features = st.dictionaries(names, st.one_of(scalars, json_values), max_size=6)
model_ids = st.one_of(st.sampled_from(["m", "a", "b"]), st.text(max_size=4), ints)
predictions = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.fixed_dictionaries({}, optional={"score": scalars, "label": scalars}),
    json_values,
)
events = st.fixed_dictionaries(
    {"model_id": model_ids, "features": features},
    optional={
        "prediction": predictions,
        "timestamp": st.one_of(
            st.floats(min_value=0, max_value=2e9), st.sampled_from(["2026-11-22T00:00:00Z", "x"])
        ),
        "latency_ms": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text()),
        "error": st.one_of(st.none(), st.text(max_size=3), ints),
        "model_version": st.one_of(st.text(max_size=3), ints),
        "event_id": st.one_of(st.text(max_size=3), ints),
        "extra": json_values,
    },
)
records = st.one_of(
    events.map(orjson.dumps),
    st.lists(events, max_size=4).map(orjson.dumps),
    json_values.map(orjson.dumps),
    st.binary(max_size=20),
    st.none(),
    events.map(orjson.dumps).map(lambda b: b[: len(b) // 2]),  # cut short
)


def run_through(values: list[bytes | None]) -> None:
    stamps = [1_763_766_000.0 + i for i in range(len(values))]
    check(values)  # the fast tiers agree with the reference path
    decoded = decode_batch(values, stamps)
    # nothing lost: every record (every array element) is an event or a rejection
    expected = 0
    for value in values:
        good, bad = decode_record(value)
        assert good or bad or orjson.loads(value) == []  # an empty array holds no event
        expected += len(good)
    assert decoded.events == expected
    rejected = {index for index, _ in decoded.rejections}
    for index, value in enumerate(values):
        good, bad = decode_record(value)
        assert good or index in rejected or not bad
    monitor = Monitor(Settings(baseline_events=20, min_window_events=5, window_events=10))
    for _ in range(3):
        monitor.process(decoded.columns, now=0.0)


@given(st.lists(records, min_size=1, max_size=30))
def test_fuzzed_records_are_decoded_or_dead_lettered_and_judged_without_crash(values):
    run_through(values)


@given(st.lists(st.lists(events, min_size=1, max_size=3), min_size=1, max_size=20))
def test_fuzzed_runs_of_valid_looking_events(batches):
    run_through([orjson.dumps(b if len(b) > 1 else b[0]) for b in batches])
