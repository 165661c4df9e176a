import math

from streamproc.stream.pacing import LabelPacing


def test_no_limit_while_the_events_have_nothing_waiting():
    pacing = LabelPacing(slack_ms=1000)
    assert pacing.limit(0, waiting=0, now=0.0) == math.inf
    pacing.hold(0, 50_000, now=0.0)
    assert pacing.to_pause({0: 0}, now=0.0) == set()


def test_labels_wait_for_their_events_partition_only():
    pacing = LabelPacing(slack_ms=1000)
    pacing.events_polled({0: 10_000, 1: 40_000})
    assert pacing.limit(0, waiting=5, now=0.0) == 11_000
    assert pacing.limit(1, waiting=5, now=0.0) == 41_000
    assert pacing.limit(2, waiting=5, now=0.0) == -math.inf  # no event polled yet
    pacing.hold(0, 20_000, now=0.0)
    pacing.hold(1, 30_000, now=0.0)
    assert pacing.to_pause({0: 5, 1: 5}, now=0.0) == {0}


def test_event_times_only_move_forward():
    pacing = LabelPacing(slack_ms=0)
    pacing.events_polled({0: 10_000})
    pacing.events_polled({0: 9_000})  # an older record time (producer clocks)
    assert pacing.limit(0, waiting=1, now=0.0) == 10_000


def test_a_held_partition_is_read_after_max_pause_then_held_again():
    pacing = LabelPacing(slack_ms=0, max_pause_s=30.0, read_s=3.0)
    pacing.events_polled({0: 0})
    pacing.hold(0, 1_000_000, now=0.0)
    assert pacing.to_pause({0: 9}, now=29.9) == {0}
    assert pacing.to_pause({0: 9}, now=30.0) == set()  # read for 3 s
    assert pacing.limit(0, waiting=9, now=32.9) == math.inf
    assert pacing.limit(0, waiting=9, now=33.0) == 0
    pacing.hold(0, 1_000_000, now=33.0)
    assert pacing.to_pause({0: 9}, now=62.9) == {0}


def test_a_partition_caught_up_early_starts_a_new_pause_later():
    pacing = LabelPacing(slack_ms=0, max_pause_s=30.0)
    pacing.events_polled({0: 0})
    pacing.hold(0, 5_000, now=0.0)
    pacing.events_polled({0: 6_000})
    assert pacing.to_pause({0: 9}, now=20.0) == set()
    pacing.hold(0, 90_000, now=25.0)  # a new hold: its own 30 s
    assert pacing.to_pause({0: 9}, now=50.0) == {0}


def test_forget_drops_a_partition():
    pacing = LabelPacing(slack_ms=0)
    pacing.events_polled({0: 5_000})
    pacing.hold(0, 9_000, now=0.0)
    pacing.forget({0})
    assert pacing.limit(0, waiting=1, now=0.0) == -math.inf
    assert pacing.to_pause({0: 1}, now=0.0) == set()
