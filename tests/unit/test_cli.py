"""The command line, run as a user would (subprocesses, real files, no Kafka)."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamproc.simulate import Scenario, generate

COMMANDS = [
    "broker",
    "worker",
    "demo",
    "baseline fit",
    "replay",
    "report",
    "produce",
    "alerts",
    "status",
]


def streamproc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    out = streamproc(*command.split(), "--help").stdout
    assert out.startswith("usage: streamproc " + command)


def write_jsonl(path: Path, scenario: Scenario, events: int, seed: int) -> None:
    with path.open("wb") as f:
        for batch in generate(scenario, events=events, batch=5000, seed=seed):
            f.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))


@pytest.fixture(scope="module")
def shifted_run(tmp_path_factory):
    """A fitted baseline and a 100,000-event file, 0.5 sd shift of 'age' from event 50,000."""
    tmp = tmp_path_factory.mktemp("replay")
    reference, events, baseline = tmp / "ref.jsonl", tmp / "events.jsonl", tmp / "baseline.json"
    write_jsonl(reference, Scenario(), 20_000, seed=100)
    write_jsonl(events, Scenario(drift_at=50_000, mean_shift={"age": 0.5}), 100_000, seed=200)
    streamproc(
        "baseline",
        "fit",
        "--model",
        "fraud-detector",
        "--input",
        str(reference),
        "--output",
        str(baseline),
    )
    result = streamproc("replay", "--input", str(events), "--baseline", str(baseline))
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()]
    return alerts, result.stderr


def test_replay_reports_the_shifted_feature_and_the_prediction_only(shifted_run):
    alerts, stderr = shifted_run
    firing = {(a["signal"], a["feature"]) for a in alerts if a["status"] == "firing"}
    assert ("feature", "age") in firing
    assert firing <= {("feature", "age"), ("prediction", None)}
    first = min(a["window"]["end"] for a in alerts if a["status"] == "firing")
    assert first >= 1_763_766_000.0 + 50_000 / 1000.0  # nothing before the shift
    assert "replayed 100000 events" in stderr


def test_replay_reports_rejected_lines(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"model_id": "m", "features": {"x": 1}}\nnot json\n{"features": {}}\n')
    result = streamproc("replay", "--input", str(path))
    assert ":2: rejected: value: not valid JSON" in result.stderr
    assert ":3: rejected: model_id: required field is missing" in result.stderr
    assert "2 rejected" in result.stderr


def test_baseline_fit_from_csv(tmp_path):
    csv = tmp_path / "ref.csv"
    csv.write_text(
        "amount,country,prediction\n"
        + "".join(f"{i % 17},{'DE' if i % 3 else 'FR'},{(i % 10) / 10}\n" for i in range(500))
    )
    out = streamproc("baseline", "fit", "--model", "m", "--input", str(csv)).stdout
    baseline = orjson.loads(out)
    assert baseline["schema"] == "baseline.v1" and baseline["model_id"] == "m"
    assert baseline["features"]["amount"]["kind"] == "numeric"
    assert baseline["features"]["country"]["kind"] == "categorical"
    assert baseline["prediction"]["score"]["kind"] == "numeric"


def test_clear_errors_for_missing_files_and_bad_config(tmp_path):
    missing = streamproc("replay", "--input", str(tmp_path / "nope.jsonl"), check=False)
    assert missing.returncode == 2 and "No such file" in missing.stderr
    config = tmp_path / "c.toml"
    config.write_text("[detectors]\nwindow = 5\n")
    bad = streamproc("replay", "--input", str(config), "--config", str(config), check=False)
    assert bad.returncode == 2 and "unknown detector setting(s): window" in bad.stderr


def test_replay_reports_null_predictions_after_a_clean_start(tmp_path):
    """5,000 clean events then 30,000 with a null prediction: a firing prediction
    null_rate alert by the end of the first full window after the change."""
    path = tmp_path / "nulls.jsonl"
    with path.open("wb") as f:
        for k, batch in enumerate(generate(Scenario(), events=35_000, batch=5000, seed=11)):
            for e in batch if k else []:
                e["prediction"] = None
            f.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
    alerts = [
        orjson.loads(line)
        for line in streamproc("replay", "--input", str(path)).stdout.splitlines()
    ]
    firing = [(a["signal"], a["detector"]) for a in alerts if a["status"] == "firing"]
    assert ("prediction", "null_rate") in firing, alerts
    (alert,) = [a for a in alerts if a["detector"] == "null_rate" and a["signal"] == "prediction"]
    assert alert["severity"] == "critical" and alert["value"] == 1.0
    assert alert["window"]["events"] == 500
    assert alert["window"]["start"] <= 1_763_766_000.0 + 5.0  # the window of events 5,000-5,499


def test_baseline_fit_with_target_column_learns_the_reference_performance(tmp_path):
    """--target: the column is the ground truth, not a feature."""
    csv = tmp_path / "ref.csv"
    rows = []
    for i in range(2000):
        score = (i % 100) / 100
        truth = "yes" if (i * 7919) % 100 < score * 60 else "no"
        rows.append(f"{i % 17},{score},{truth}\n")
    csv.write_text("amount,prediction,y\n" + "".join(rows))
    out = streamproc("baseline", "fit", "--model", "m", "--input", str(csv), "--target", "y")
    baseline = orjson.loads(out.stdout)
    assert sorted(baseline["features"]) == ["amount"]  # the target is not a feature
    performance = baseline["performance"]
    assert performance["version"] == 1 and performance["kind"] == "classification"
    assert performance["labels"] == 2000 and performance["classes"] == ["no", "yes"]
    assert performance["positive"] == "yes"  # the minority truth (no predicted classes)
    assert performance["calibration"]["binary"] is True
    assert 0.55 < 1 - performance["error_rate"] < 0.9


def test_baseline_fit_with_label_events_joined_by_event_id(tmp_path):
    from streamproc.simulate import labels_for

    reference, labels = tmp_path / "ref.jsonl", tmp_path / "labels.jsonl"
    write_jsonl(reference, Scenario(), 5000, seed=3)
    events = [e for batch in generate(Scenario(), events=5000, batch=5000, seed=3) for e in batch]
    with labels.open("wb") as f:
        for label in labels_for(events[:4000], delay_seconds=60.0, seed=1):
            f.write(orjson.dumps(label) + b"\n")
        f.write(orjson.dumps({"model_id": "other", "event_id": "x", "label": "ok"}) + b"\n")
    result = streamproc(
        "baseline",
        "fit",
        "--model",
        "fraud-detector",
        "--input",
        str(reference),
        "--labels",
        str(labels),
        "--output",
        str(tmp_path / "b.json"),
    )
    assert "4000 labelled (accuracy 0.9" in result.stderr
    performance = orjson.loads((tmp_path / "b.json").read_bytes())["performance"]
    assert performance["labels"] == 4000 and performance["positive"] == "fraud"
    assert abs((1 - performance["error_rate"]) - 0.94) < 0.02
    assert abs(performance["calibration"]["expected"] - (1 - performance["error_rate"])) < 0.01


def test_baseline_fit_rejects_labels_and_target_together(tmp_path):
    csv = tmp_path / "ref.csv"
    csv.write_text("amount,y\n1,a\n")
    result = streamproc(
        "baseline", "fit", "--model", "m", "--input", str(csv), "--target", "y",
        "--labels", str(csv), check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
