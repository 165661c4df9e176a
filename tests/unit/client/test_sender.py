import collections
import threading

from streamproc.client import sender as sender_module
from streamproc.client.problems import Counters
from streamproc.client.sender import EVENT, GIL_PAUSE, Sender


def make_sender(queue: collections.deque) -> Sender:
    return Sender(
        queue=queue, counters=Counters(None), space=threading.Event(),
        bootstrap="localhost:1", model_id="m", model_version="v1",
        events_topic="events", labels_topic="labels", batch_events=500, linger=0.05,
        kafka_options=None,
    )  # fmt: skip


def event(i: int) -> tuple:
    return (EVENT, 1_763_766_000.0 + i, f"e{i}", {"x": float(i)}, 0.5, 1.0, None)


def test_encoding_lets_go_of_the_gil_between_slices(monkeypatch):
    queue = collections.deque(event(i) for i in range(64))
    sender = make_sender(queue)  # its thread is not started: _take runs here
    pauses: list[float] = []
    monkeypatch.setattr(sender_module, "GIL_SLICE", 0.0)  # every check finds the slice over
    monkeypatch.setattr(sender_module.time, "sleep", pauses.append)
    markers, taken = sender._take()
    assert taken == 64 and not queue and markers == []
    assert pauses == [GIL_PAUSE] * 8  # checked every 8 items
    assert sum(events for _, _, events in sender._outbox) + len(sender.events) == 64


def test_a_short_take_does_not_pause(monkeypatch):
    queue = collections.deque(event(i) for i in range(64))
    pauses: list[float] = []
    monkeypatch.setattr(sender_module, "GIL_SLICE", 60.0)
    monkeypatch.setattr(sender_module.time, "sleep", pauses.append)
    assert make_sender(queue)._take()[1] == 64
    assert pauses == []
