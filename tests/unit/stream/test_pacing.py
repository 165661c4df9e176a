from types import SimpleNamespace

from streamproc.stream.pacing import LabelPacing


def records(*stamps: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(timestamp=t) for t in stamps]


def stamps(out: dict, partition: int) -> list[int]:
    return [r.timestamp for r in out.get(partition, [])]


def test_labels_ahead_of_their_events_are_held_and_handed_out_in_order():
    pacing = LabelPacing(slack_ms=1000)
    out = pacing.take({0: 5_000}, {0: records(4_000, 6_000, 7_000, 6_500)}, {0: True}, now=0.0)
    assert stamps(out, 0) == [4_000, 6_000] and pacing.holding == {0}
    out = pacing.take({0: 6_100}, {}, {0: True}, now=1.0)
    assert stamps(out, 0) == [7_000, 6_500]  # in order, past the first one reached
    assert pacing.holding == set()


def test_nothing_is_held_once_the_events_have_nothing_waiting():
    pacing = LabelPacing(slack_ms=0)
    out = pacing.take({}, {0: records(9_000)}, {0: True}, now=0.0)  # no event polled yet
    assert out == {} and pacing.holding == {0}
    out = pacing.take({}, {0: records(9_500)}, {0: False}, now=0.1)  # the events caught up
    assert stamps(out, 0) == [9_000, 9_500] and pacing.holding == set()


def test_each_labels_partition_waits_for_its_own_events_partition():
    pacing = LabelPacing(slack_ms=0)
    labels = {0: records(5_000), 1: records(5_000)}
    out = pacing.take({0: 6_000, 1: 1_000}, labels, {0: True, 1: True}, now=0.0)
    assert list(out) == [0] and pacing.holding == {1}


def test_records_held_without_moving_for_max_hold_are_read_for_a_while():
    pacing = LabelPacing(slack_ms=0, max_hold_s=30.0, read_s=3.0)
    pacing.take({0: 0}, {0: records(10**9)}, {0: True}, now=0.0)
    assert pacing.take({0: 1}, {}, {0: True}, now=29.9) == {}
    assert stamps(pacing.take({0: 2}, {}, {0: True}, now=30.0), 0) == [10**9]  # polls far apart too
    assert stamps(pacing.take({0: 3}, {0: records(10**9 + 1)}, {0: True}, now=32.9), 0) == [
        10**9 + 1
    ]
    assert pacing.take({0: 4}, {0: records(10**9 + 2)}, {0: True}, now=33.0) == {}  # held again
    assert pacing.holding == {0}


def test_records_that_move_are_not_read_by_force():
    pacing = LabelPacing(slack_ms=0, max_hold_s=30.0)
    pacing.take({0: 0}, {0: records(10, 20_000, 40_000)}, {0: True}, now=0.0)
    out = pacing.take({0: 25_000}, {}, {0: True}, now=29.0)
    assert stamps(out, 0) == [10, 20_000]
    assert pacing.take({0: 25_000}, {}, {0: True}, now=58.0) == {}  # 29 s since it moved


def test_forget_drops_the_held_records():
    pacing = LabelPacing(slack_ms=0)
    pacing.take({0: 0}, {0: records(5_000)}, {0: True}, now=0.0)
    pacing.forget({0})
    assert pacing.holding == set() and pacing.take({}, {}, {}, now=1.0) == {}
