import tracemalloc

import numpy as np
import pytest

from streamproc.events.columns import EventColumns
from streamproc.labels import JoinSettings, LabelJoin, LabelRows


def predictions(ids, times=None, model="m", label="ok", score=0.2):
    times = list(range(len(ids))) if times is None else times
    events = [
        {
            "model_id": model,
            "features": {},
            "timestamp": float(t),
            "prediction": {"label": label, "score": score} if label else score,
            **({"event_id": i} if i is not None else {}),
        }
        for i, t in zip(ids, times, strict=True)
    ]
    return EventColumns.from_events(model, events, default_timestamp=0.0)


def labels(ids, values=None, times=None, model="m"):
    values = ["fraud"] * len(ids) if values is None else values
    times = [100.0] * len(ids) if times is None else times
    return LabelRows([model] * len(ids), list(ids), list(values), np.asarray(times, float),
                     list(range(len(ids))))  # fmt: skip


def matched(batches):
    return [e for b in batches for e in b.event_ids]


def test_label_after_its_prediction():
    join = LabelJoin()
    assert join.add([predictions(["a", "b", "c"], [10, 11, 12])]) == []
    (batch,) = join.match(labels(["c", "a"], ["fraud", "ok"], [70.0, 80.0]))
    assert batch.model_id == "m" and batch.event_ids == ["c", "a"]  # label order
    assert batch.truth == ["fraud", "ok"] and batch.predicted == ["ok", "ok"]
    assert batch.timestamps.tolist() == [12.0, 10.0]
    assert batch.label_delays().tolist() == [58.0, 70.0]
    assert batch.scores.tolist() == [0.2, 0.2]
    assert np.isnan(batch.truth_values).all()
    assert join.pending == 1
    assert join.take_counts() == {"matched": 2}
    assert join.take_counts() == {}  # counts are taken once


def test_label_before_its_prediction_waits_and_matches():
    join = LabelJoin()
    assert join.match(labels(["b"], times=[50.0])) == []
    assert join.early == 1
    (batch,) = join.add([predictions(["a", "b"], [10, 11])])
    assert batch.event_ids == ["b"] and batch.label_delays().tolist() == [39.0]
    assert join.early == 0 and join.pending == 1


def test_a_batch_of_early_labels_waits_in_bulk_and_matches_in_label_order():
    join = LabelJoin()
    assert join.match(labels(["x", "y", "z"], ["1", "2", "3"], [50.0, 51.0, 52.0])) == []
    assert join.early == 3 and not join.take_counts()
    (batch,) = join.add([predictions(["z", "y", "x", "w"], [10, 11, 12, 13])])
    assert batch.event_ids == ["x", "y", "z"] and batch.truth == ["1", "2", "3"]
    assert batch.label_times.tolist() == [50.0, 51.0, 52.0]
    assert batch.predicted == ["ok"] * 3 and batch.timestamps.tolist() == [12.0, 11.0, 10.0]
    assert join.early == 0 and join.pending == 1


def test_early_labels_with_a_repeated_or_known_id_are_counted_one_by_one():
    join = LabelJoin()
    join.add([predictions(["a"])])
    join.match(labels(["a"]))
    join.match(labels(["p", "q", "p"]))  # p twice in one batch: the second is a duplicate
    join.match(labels(["a", "r"]))  # a matched before: a duplicate; r waits
    join.match(labels(["q", "s"]))  # q waiting already: a duplicate; s waits
    assert join.early == 4
    assert dict(join.take_counts()) == {"matched": 1, "duplicate": 3}
    (batch,) = join.add([predictions(["s", "r", "q", "p"], [1, 2, 3, 4])])
    assert batch.event_ids == ["p", "q", "r", "s"]  # the order they arrived in


def test_early_labels_give_up_after_early_seconds_of_prediction_time():
    join = LabelJoin(JoinSettings(early_seconds=60))
    join.match(labels(["x"], times=[100.0]))
    join.add([predictions(["a"], [150])])
    assert join.early == 1  # predictions have not passed 100 + 60 yet
    join.add([predictions(["b"], [161])])
    assert join.early == 0
    assert join.take_counts()["unknown_id"] == 1


def test_duplicates():
    join = LabelJoin()
    join.add([predictions(["a", "b"])])
    assert matched(join.match(labels(["a", "a"]))) == ["a"]  # twice in one batch
    assert join.match(labels(["a"])) == []  # again later
    join.match(labels(["z", "z"]))  # twice before its prediction
    counts = join.take_counts()
    assert counts["duplicate"] == 3 and counts["matched"] == 1


def test_unknown_ids_are_counted_at_the_end():
    join = LabelJoin()
    join.add([predictions(["a"])])
    join.match(labels(["nope"]))
    join.flush()
    assert join.take_counts()["unknown_id"] == 1


def test_predictions_expire_by_ttl_of_event_time():
    join = LabelJoin(JoinSettings(ttl_seconds=100))
    join.add([predictions(["old", "kept"], [0, 50])])
    join.add([predictions(["new"], [120])])  # 120 - 100 = 20: "old" expires
    assert join.pending == 2
    assert join.match(labels(["old"])) == []
    assert matched(join.match(labels(["kept", "new"]))) == ["kept", "new"]
    counts = join.take_counts()
    assert counts["predictions_expired"] == 1 and counts["expired"] == 1


def test_a_prediction_past_the_ttl_but_not_dropped_yet_is_expired():
    join = LabelJoin(JoinSettings(ttl_seconds=100))
    join.add([predictions(["new"], [120]), predictions(["late"], [10], model="m")])
    # "late" arrived after "new" (out of order), so it was not dropped in arrival order
    assert join.match(labels(["late"])) == []
    assert join.take_counts()["expired"] == 1


def test_the_cap_evicts_the_oldest_pending_predictions():
    join = LabelJoin(JoinSettings(max_pending=80))
    for start in range(0, 200, 10):
        join.add([predictions([f"e{i}" for i in range(start, start + 10)])])
        assert join.pending <= 80
    counts = join.take_counts()
    assert counts["predictions_evicted"] == 200 - join.pending
    assert join.match(labels(["e0"])) == []  # evicted: counted expired
    assert matched(join.match(labels(["e199"]))) == ["e199"]
    assert join.take_counts()["expired"] == 1


def test_the_cap_holds_for_all_models_together():
    join = LabelJoin(JoinSettings(max_pending=800))
    for start in range(0, 3000, 100):
        join.add([predictions([f"e{i}" for i in range(start, start + 100)], model=f"m{start % 3}")])
        assert join.pending <= 800
    sizes = [len(m.index) for m in join.models.values()]
    assert min(sizes) > 150  # every model keeps a share
    assert join.take_counts()["predictions_evicted"] == 3000 - join.pending


def test_matched_slots_are_reused_without_evicting():
    join = LabelJoin(JoinSettings(max_pending=64))
    for start in range(0, 10_000, 50):
        ids = [f"e{i}" for i in range(start, start + 50)]
        join.add([predictions(ids)])
        assert matched(join.match(labels(ids))) == ids
    counts = join.take_counts()
    assert counts["matched"] == 10_000 and "predictions_evicted" not in counts
    assert len(join.models["m"].times) == 64


def test_early_labels_are_capped():
    join = LabelJoin(JoinSettings(max_early=16))
    join.match(labels([f"x{i}" for i in range(40)]))
    assert join.early <= 16
    assert join.take_counts()["unknown_id"] == 40 - join.early


def test_bad_values_and_numeric_labels():
    join = LabelJoin()
    join.add([predictions(["c1", "c2", "c3"], label="1")])  # a classifier with classes "0"/"1"
    join.add([predictions(["r1", "r2"], label=None, score=3.5, model="reg")])  # a regressor
    (batch,) = join.match(labels(["c1", "c2", "c3"], [1, 0.0, 0.5]))
    assert batch.event_ids == ["c1", "c2"] and batch.truth == ["1", "0"]
    assert batch.truth_values.tolist() == [1.0, 0.0]
    (reg,) = join.match(labels(["r1", "r2"], [2.5, "high"], model="reg"))
    assert reg.truth == [None, "high"] and reg.truth_values[0] == 2.5
    assert np.isnan(reg.truth_values[1]) and reg.predicted == [None, None]
    assert join.take_counts()["bad_value"] == 1


def test_events_without_an_event_id_are_not_joinable():
    join = LabelJoin()
    join.add([predictions(["a", None, "c"])])
    columns = predictions(["d", "e"])
    columns.event_ids = []  # decoded without ids
    join.add([columns])
    assert join.pending == 2
    assert join.take_counts()["unjoinable"] == 3


def test_a_redelivered_prediction_matches_once():
    join = LabelJoin()
    join.add([predictions(["a", "b"], [1, 2])])
    join.add([predictions(["a"], [1])])  # at-least-once: the same event again
    assert join.pending == 2
    assert matched(join.match(labels(["a", "b"]))) == ["a", "b"]
    assert join.pending == 0 and join.match(labels(["a"])) == []
    assert join.take_counts()["duplicate"] == 1


def test_models_are_joined_apart_and_forgotten():
    join = LabelJoin()
    join.add([predictions(["a"], model="m1"), predictions(["a"], model="m2")])
    rows = LabelRows(["m2", "m1"], ["a", "a"], ["x", "y"], np.array([5.0, 6.0]), [0, 1])
    assert {(b.model_id, b.truth[0]) for b in join.match(rows)} == {("m2", "x"), ("m1", "y")}
    join.add([predictions(["b"], model="m1")])
    join.forget(["m1"])
    assert join.pending == 0 and "m1" not in join.models


def test_settings_are_checked():
    with pytest.raises(ValueError):
        JoinSettings(max_pending=0)
    with pytest.raises(ValueError):
        JoinSettings(ttl_seconds=0)


def test_memory_per_pending_prediction_is_bounded():
    """~150 bytes a pending prediction with 12-character ids (docs: README, Labels)."""
    n = 200_000
    ids = [f"evt-{i:08d}" for i in range(n)]
    columns = [predictions(ids[i : i + 5000], [t / 10 for t in range(i, i + 5000)])
               for i in range(0, n, 5000)]  # fmt: skip
    tracemalloc.start()
    join = LabelJoin()
    before = tracemalloc.get_traced_memory()[0]
    join.add(columns)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert join.pending == n
    # the ids' strings are shared with the decoded events; the join adds its own structures
    assert used / n < 200, used / n
