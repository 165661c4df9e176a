import math

import numpy as np
from river.drift import ADWIN

from streamproc.detect.adwin import BlockAdwin


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
