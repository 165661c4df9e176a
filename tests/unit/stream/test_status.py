from dataclasses import dataclass

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.simulate import Scenario, generate
from streamproc.stream.status import RATE_SECONDS, Activity, format_status, worker_status


@dataclass
class Batch:
    model_id: str
    size: int


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_recent_and_falls_to_zero_when_quiet():
    clock = Clock()
    activity = Activity(clock=clock)
    for _ in range(60):  # 100 events a second for a minute
        activity.add([Batch("m", 100)])
        clock.now += 1.0
    assert activity.events["m"] == 6000
    assert 95 <= activity.rate("m") <= 105
    clock.now += RATE_SECONDS + 1
    assert activity.rate("m") == 0.0 and activity.rate("unknown") == 0.0


def test_only_tracked_models_are_counted_and_forgotten_ones_dropped():
    activity = Activity(clock=Clock())
    activity.add([Batch("a", 5), Batch("b", 7)], tracked={"a"})
    assert activity.events == {"a": 5}
    activity.forget(["a"])
    assert activity.events == {} and activity.rate("a") == 0.0


def _run(monitor: Monitor, scenario: Scenario, events: int) -> Activity:
    activity = Activity(clock=Clock())
    for batch in generate(scenario, events=events, batch=1000):
        columns = columns_by_model(batch, default_timestamp=0.0)
        monitor.process(columns, now=0.0)
        activity.add(columns, tracked=monitor.models)
    return activity


def test_published_and_learned_baselines_and_open_episodes():
    reference = next(generate(Scenario(model_id="fit"), events=3000, batch=3000))
    published = Baseline.fit(EventColumns.from_events("fit", reference, default_timestamp=0.0))
    monitor = Monitor(Settings(baseline_events=2000), baselines=[published])
    activity = _run(monitor, Scenario(model_id="fit"), 3000)
    learned = _run(monitor, Scenario.demo(model_id="own", drift_at=4000), 10_000)
    activity.events.update(learned.events)
    _run(monitor, Scenario(model_id="new"), 1000)  # half its learning events
    doc = worker_status(
        monitor,
        activity,
        worker_id="w",
        host="h",
        group="g",
        partitions=[3, 1],
        now=published.created_at + 60,
    )
    by_id = {m["model_id"]: m for m in doc["models"]}
    assert doc["partitions"] == [1, 3] and doc["schema"] == "status.v1"
    assert by_id["fit"]["baseline"]["source"] == "published"
    assert 59 <= by_id["fit"]["baseline"]["age_seconds"] <= 61
    assert by_id["fit"]["events"] == 3000 and by_id["fit"]["windows_judged"] == 6
    own = by_id["own"]
    assert own["baseline"] | {"age_seconds": 0} == {
        "source": "learned",
        "age_seconds": 0,
        "events": 2000,
        "sent": False,
    }
    assert {(e["feature"], e["detector"]) for e in own["open_episodes"]} >= {("amount", "psi")}
    assert all(e["since"] >= 1_763_766_000 for e in own["open_episodes"])
    assert by_id["new"]["baseline"] == {
        "source": "learning",
        "age_seconds": None,
        "events": 1000,
        "of": 2000,
    }
    table = format_status("http://h:9108", doc)
    assert "learning 1000/2000" in table and "learned (unsent)" in table
    assert "psi:amount since " in table
    assert table.splitlines()[0].startswith("worker w on h, group g, partitions [1, 3]: 3 model(s)")
