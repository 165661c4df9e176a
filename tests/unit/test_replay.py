"""``streamproc replay`` as a user runs it: exit codes, the summary, warnings."""

import subprocess
import sys

import orjson
import pytest

from streamproc.simulate import Scenario, generate


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamproc", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(path, scenario, events, seed, model=None):
    with path.open("wb") as f:
        for batch in generate(scenario, events=events, batch=5000, seed=seed):
            for e in batch:
                if model:
                    e["model_id"] = model
                f.write(orjson.dumps(e) + b"\n")


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    reference, events, baseline = tmp / "ref.jsonl", tmp / "events.jsonl", tmp / "b.json"
    write(reference, Scenario(), 10_000, seed=1)
    write(events, Scenario.demo(drift_at=10_000), 20_000, seed=2)
    subprocess.run(
        [sys.executable, "-m", "streamproc", "baseline", "fit", "--model", "fraud-detector",
         "--input", str(reference), "--output", str(baseline)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return events, baseline


def test_csv_input_is_refused_with_one_line(tmp_path):
    path = tmp_path / "reference.csv"
    path.write_text("amount,country\n1.5,DE\n2.5,FR\n")
    result = replay("--input", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "not JSON" in result.stderr and "looks like CSV" in result.stderr


def test_input_with_every_line_rejected_exits_non_zero_and_counts_the_rest(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"features": {}}\n' * 25)
    result = replay("--input", str(path))
    assert result.returncode == 2
    assert result.stderr.count(": rejected: ") == 20
    assert "... 5 more rejected" in result.stderr
    assert "no valid event could be read (25 line(s) rejected)" in result.stderr.splitlines()[-1]


def test_empty_input_exits_non_zero(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    result = replay("--input", str(path))
    assert result.returncode == 2 and "is empty" in result.stderr


def test_summary_per_model_with_detectors_lines_and_what_still_fires(drifted):
    events, baseline = drifted
    result = replay("--input", str(events), "--baseline", str(baseline))
    assert result.returncode == 0, result.stderr
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    err = result.stderr
    assert f"model fraud-detector: 20000 events, baseline given (--baseline {baseline})" in err
    psi = next(a for a in alerts if a["feature"] == "country" and a["detector"] == "psi")
    line = psi["details"]["input_line"]
    assert 10_000 < line <= 11_000  # the window's end, in the input
    assert psi["detected_at"] == psi["window"]["end"]  # event time, not the wall clock
    assert f"feature 'country': psi fired at line {line}" in err
    assert "still firing at the end: " in err and "feature 'country' (psi)" in err


def test_learned_baseline_and_an_unused_given_baseline_are_told(drifted, tmp_path):
    _, baseline = drifted
    path = tmp_path / "v3.jsonl"
    write(path, Scenario(), 3000, seed=3, model="fraud-v3")
    result = replay("--input", str(path), "--baseline", str(baseline))
    assert result.returncode == 0
    assert "model fraud-v3: 3000 events, baseline learned from its first 2000 events" in (
        result.stderr
    )
    assert (
        "warning: --baseline for model(s) 'fraud-detector' matches no model in "
        f"{path} (its models: 'fraud-v3')"
    ) in result.stderr


def test_models_past_max_models_judged_are_counted_not_judged(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    lines = [
        orjson.dumps({"model_id": f"m{k % 3}", "features": {"x": float(k)}}) for k in range(30)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setenv("STREAMPROC_MAX_MODELS_JUDGED", "2")
    done = replay("--input", str(path))
    assert done.returncode == 0, done.stderr
    assert "replayed 30 events of 2 model(s)" in done.stderr
    assert (
        "warning: 10 events of models past max_models_judged (2) were counted, not judged"
        in done.stderr
    )


def test_alerts_come_in_input_order_across_models(tmp_path):
    """Model "a" comes first in the file (so first in each batch's model order)
    and drifts later than model "b": its alerts still come after b's."""
    path = tmp_path / "two.jsonl"
    a = [e for c in generate(Scenario.demo(drift_at=3_600), events=4_900, seed=3) for e in c]
    b = [e for c in generate(Scenario.demo(drift_at=2_400), events=4_900, seed=4) for e in c]
    with path.open("wb") as f:
        for ea, eb in zip(a, b, strict=True):
            f.write(orjson.dumps(ea | {"model_id": "a"}) + b"\n")
            f.write(orjson.dumps(eb | {"model_id": "b"}) + b"\n")
    result = replay("--input", str(path))
    assert result.returncode == 0, result.stderr
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    lines = [alert["details"]["input_line"] for alert in alerts]
    assert {alert["model_id"] for alert in alerts} == {"a", "b"}
    assert lines == sorted(lines)
