"""The report sees exactly what replay does, within its caps."""

import subprocess
import sys

import orjson
import pytest

from streamproc.cli import main
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from streamproc.report import collect
from streamproc.report.collect import ReportCollector
from streamproc.simulate import Scenario, generate, wide_events


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "events.jsonl"
    with path.open("wb") as f:
        for batch in generate(Scenario.demo(drift_at=8000), events=16_000, batch=2000):
            f.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
    return path


def test_the_report_has_the_alerts_replay_prints(drifting, tmp_path, monkeypatch):
    replay = subprocess.run(
        [sys.executable, "-m", "streamproc", "replay", "--input", str(drifting)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    printed = [orjson.loads(line) for line in replay.stdout.splitlines()]
    assert any(a["status"] == "firing" for a in printed)
    seen = {}
    real = ReportCollector.finish

    def keep(self, counts, labels=None):
        seen["data"] = real(self, counts, labels)
        return seen["data"]

    monkeypatch.setattr(ReportCollector, "finish", keep)
    assert main(["report", "--input", str(drifting), "--output", str(tmp_path / "r.html")]) == 0
    alerts = [a.to_dict() for a in seen["data"].alerts]
    key = ("alert_id", "status", "feature", "detector", "value", "window", "message")
    assert [[a[k] for k in key] for a in alerts] == [[a[k] for k in key] for a in printed]
    model = seen["data"].models[0]
    psi = model.series[("feature", "amount", "psi")]
    assert len(psi) == model.windows and model.events == 16_000
    # amount is shifted from event 8000: the PSI crosses its threshold there
    assert psi[0][1] < psi[0][2] and psi[-1][1] > psi[-1][2]


def test_series_are_thinned_past_the_cap_and_stay_aligned(monkeypatch):
    monkeypatch.setattr(collect, "MAX_POINTS", 10)
    collector = ReportCollector(source="t")
    monitor = Monitor(Settings(baseline_events=1000, window_events=250), observer=collector)
    for events in generate(Scenario(), events=12_000, batch=1000):
        columns = columns_by_model(events, default_timestamp=0.0)
        collector.batch(columns, monitor.process(columns, now=0.0))
    model = collector.finish({}).models[0]
    assert model.windows == 44 and model.stride == 8
    lengths = {len(s) for s in model.series.values()}
    assert lengths == {6}  # windows 1, 9, 17, 25, 33, 41 of every series
    ends = [p[0] for p in model.series[("feature", "amount", "psi")]]
    assert ends == sorted(ends)


def test_at_most_max_models_are_kept(monkeypatch):
    monkeypatch.setattr(collect, "MAX_MODELS", 3)
    collector = ReportCollector(source="t")
    events = wide_events(events=2000, models=5)
    collector.batch(columns_by_model(events, default_timestamp=0.0), [])
    data = collector.finish({"events": 2000})
    assert len(data.models) == 3 and data.omitted_models == 2


def test_a_missing_input_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", "report", "--input", str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "nope.jsonl" in done.stderr
