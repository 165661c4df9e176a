from types import SimpleNamespace

from streamproc.stream.pacing import JoinPacing

WAIT = {0: True}
DONE = {0: False}


def records(*stamps: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(timestamp=t) for t in stamps]


def stamps(out: dict, partition: int = 0) -> list[int]:
    return [r.timestamp for r in out.get(partition, [])]


def take(pacing, events, labels, events_waiting=WAIT, labels_waiting=DONE, now=0.0):
    return pacing.take(
        events, labels, events_waiting=events_waiting, labels_waiting=labels_waiting, now=now
    )


def test_labels_ahead_of_their_events_are_held_and_handed_out_in_order():
    pacing = JoinPacing(label_slack_ms=1000, event_slack_ms=10**9)
    _, out = take(pacing, {0: records(5_000)}, {0: records(4_000, 6_000, 7_000, 6_500)})
    assert stamps(out) == [4_000, 6_000] and pacing.holding_labels == {0}
    events, out = take(pacing, {0: records(6_100)}, {}, now=1.0)
    assert stamps(events) == [6_100]
    assert stamps(out) == [7_000, 6_500]  # in order, past the first one reached
    assert pacing.holding_labels == set()


def test_nothing_is_held_once_the_other_side_has_nothing_waiting():
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0)
    _, out = take(pacing, {}, {0: records(9_000)})  # no event polled yet
    assert out == {} and pacing.holding_labels == {0}
    _, out = take(pacing, {}, {0: records(9_500)}, events_waiting=DONE, now=0.1)  # caught up
    assert stamps(out) == [9_000, 9_500] and pacing.holding_labels == set()
    events, _ = take(pacing, {0: records(10**9)}, {}, events_waiting=WAIT, labels_waiting=DONE)
    assert stamps(events) == [10**9]  # no labels waiting: events are never held


def test_events_ahead_of_their_labels_are_held_until_the_labels_reach_them():
    # a partition with few events a second: one poll spans days of event time
    hour = 3_600_000
    pacing = JoinPacing(label_slack_ms=150_000, event_slack_ms=12 * hour)
    events, labels = take(
        pacing,
        {0: records(*range(0, 60 * hour, hour))},  # 60 hours of events
        {0: records(hour // 2, hour + hour // 2)},  # the labels of the first two, 30 min late
        labels_waiting=WAIT,
    )
    # events up to 12 h past the oldest label not judged yet, then the labels
    # up to the next event held: judged after these events, none finds its
    # prediction expired (a 24-hour TTL)
    assert stamps(events) == list(range(0, 13 * hour, hour))
    assert stamps(labels) == [hour // 2, hour + hour // 2]
    assert pacing.holding_events == {0} and pacing.holding_labels == set()
    events, labels = take(
        pacing, {}, {0: records(20 * hour + hour // 2)}, labels_waiting=WAIT, now=1.0
    )
    assert stamps(events) == list(range(13 * hour, 33 * hour, hour))
    events, _ = take(pacing, {}, {}, labels_waiting=DONE, now=2.0)  # labels caught up
    assert stamps(events) == list(range(33 * hour, 60 * hour, hour))
    assert pacing.holding_events == set()


def test_when_both_sides_are_held_the_next_poll_hands_out_events():
    pacing = JoinPacing(label_slack_ms=10, event_slack_ms=10)
    both = {0: True}
    events, labels = take(pacing, {0: records(0, 500, 1_000)}, {0: records(400, 2_000)}, both, both)
    # events up to the oldest label in hand (400) + 10; labels up to the next event held
    assert stamps(events) == [0] and stamps(labels) == [400]
    assert pacing.holding_events == pacing.holding_labels == {0}
    events, labels = take(pacing, {}, {}, both, both, now=1.0)
    assert stamps(events) == [500, 1_000] and labels == {}  # 2,000: past the events + 10
    assert pacing.holding_events == set() and pacing.holding_labels == {0}


def test_events_wait_for_labels_not_fetched_yet_only_a_few_seconds():
    # a labels partition whose end is unknown (not fetched: its leader away, say)
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0, unknown_wait_s=5.0)
    unknown = {0: None}
    events, _ = take(pacing, {0: records(1_000)}, {}, labels_waiting=unknown)
    assert events == {} and pacing.holding_events == {0}
    events, _ = take(pacing, {}, {}, labels_waiting=unknown, now=5.0)
    assert stamps(events) == [1_000] and pacing.holding_events == set()
    # labels wait for events not fetched yet, as for events waiting
    _, labels = take(pacing, {}, {0: records(9_000)}, events_waiting=unknown, now=6.0)
    assert labels == {} and pacing.holding_labels == {0}


def test_each_partition_waits_for_its_own_partition_of_the_other_side():
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0)
    labels = {0: records(5_000), 1: records(5_000)}
    events = {0: records(6_000), 1: records(1_000)}
    _, out = take(pacing, events, labels, events_waiting={0: True, 1: True})
    assert list(out) == [0] and pacing.holding_labels == {1}


def test_records_held_without_moving_for_max_hold_are_read_for_a_while():
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0, max_hold_s=30.0, read_s=3.0)
    take(pacing, {0: records(0)}, {0: records(10**9)})
    assert take(pacing, {0: records(1)}, {}, now=29.9)[1] == {}
    assert stamps(take(pacing, {0: records(2)}, {}, now=30.0)[1]) == [10**9]  # polls far apart
    assert stamps(take(pacing, {0: records(3)}, {0: records(10**9 + 1)}, now=32.9)[1]) == [
        10**9 + 1
    ]
    assert take(pacing, {0: records(4)}, {0: records(10**9 + 2)}, now=33.0)[1] == {}  # held again
    assert pacing.holding_labels == {0}


def test_records_that_move_are_not_read_by_force():
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0, max_hold_s=30.0)
    take(pacing, {0: records(0)}, {0: records(10, 20_000, 40_000)})
    _, out = take(pacing, {0: records(25_000)}, {}, now=29.0)
    assert stamps(out) == [10, 20_000]
    assert take(pacing, {0: records(25_000)}, {}, now=58.0)[1] == {}  # 29 s since it moved


def test_forget_drops_the_held_records():
    pacing = JoinPacing(label_slack_ms=0, event_slack_ms=0)
    take(
        pacing,
        {1: records(5_000)},
        {0: records(9_000), 1: records(5)},
        events_waiting={0: True, 1: False},
        labels_waiting={0: False, 1: True},
    )
    assert pacing.holding_labels == {0} and pacing.holding_events == {1}
    pacing.forget({0, 1})
    assert pacing.holding_labels == pacing.holding_events == set()
    assert take(pacing, {}, {}, {}, {}, now=1.0) == ({}, {})
