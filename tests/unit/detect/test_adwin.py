import math

import numpy as np
from river.drift import ADWIN

from streamproc.detect.adwin import BlockAdwin, update_rows


def test_block_of_one_matches_river_adwin_exactly():
    rng = np.random.default_rng(3)
    stream = np.concatenate([rng.normal(0, 1, 3000), rng.normal(1.5, 1, 3000)])
    river = ADWIN(delta=0.002, clock=32)
    expected = []
    for i, x in enumerate(stream):
        river.update(x)
        if river.drift_detected:
            expected.append(i + 1)
    # one value per block, no standardization, no clipping: river's ADWIN exactly
    ours = BlockAdwin(block=1, delta=0.002, clock=32, center=0.0, scale=1.0, clip=math.inf)
    got = [c.values_seen for c in ours.update(stream)]
    assert expected and got == expected


def test_blocks_carry_over_between_batches_and_skip_nans():
    rng = np.random.default_rng(4)
    stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(1, 1, 5_000)])
    whole = BlockAdwin(block=25, delta=1e-5)
    pieces = BlockAdwin(block=25, delta=1e-5)
    expected = [c.values_seen for c in whole.update(stream)]
    got = []
    for chunk in np.array_split(stream, 37):
        with_nans = np.concatenate([chunk, [np.nan]])
        got += [c.values_seen for c in pieces.update(with_nans)]
    assert expected == got
    assert 20_000 < expected[0] <= 21_000


def test_no_change_on_a_stationary_stream():
    rng = np.random.default_rng(5)
    detector = BlockAdwin(block=25, delta=1e-5)
    assert detector.update(rng.lognormal(0, 1, 200_000)) == []


def test_a_change_reports_adwin_estimate_before_the_update():
    # block of one, no standardization: ADWIN's own estimate before each update
    rng = np.random.default_rng(6)
    stream = np.concatenate([rng.normal(0, 1, 2000), rng.normal(2, 1, 2000)] * 2)
    river = ADWIN(delta=0.002, clock=8)
    expected = []
    for i, x in enumerate(stream):
        before = river.estimation
        river.update(x)
        if river.drift_detected:
            expected.append((i + 1, before))
    ours = BlockAdwin(block=1, delta=0.002, clock=8, center=0.0, scale=1.0, clip=math.inf)
    got = []
    for piece in np.array_split(stream, 13):
        got += [(c.values_seen, c.mean_before) for c in ours.update(piece)]
    assert len(expected) > 1 and got == expected
    assert ours.mean == river.estimation


def _state(d: BlockAdwin):
    return (d.center, d.scale, d._seen, d._river._tick, d._pending.tolist(), list(d._recent))


def test_update_rows_is_update_of_each_row():
    rng = np.random.default_rng(9)
    size = 20
    ours = [BlockAdwin(block=25, delta=1e-4, center=0.0) for _ in range(size)]
    ours += [BlockAdwin(block=10, delta=1e-4, center=1.0, scale=2.0), BlockAdwin(block=25)]
    theirs = [BlockAdwin(block=d.block, delta=1e-4, center=d.center, scale=d.scale) for d in ours]
    changes = 0
    for step in range(60):
        n = int(rng.integers(1, 400))
        rows = [
            rng.normal(1.0 if step > 30 and j % 3 == 0 else 0.0, 1, n) for j in range(len(ours))
        ]
        for j in rng.choice(len(rows), 3):  # some rows with nulls: updated alone from then on
            rows[j][rng.integers(0, n)] = np.nan
        expected = [d.update(r) for d, r in zip(theirs, rows, strict=True)]
        assert update_rows(ours, rows) == expected
        changes += sum(map(len, expected))
        assert [_state(d) for d in ours] == [_state(d) for d in theirs]
    assert changes > 0
