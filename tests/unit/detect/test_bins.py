import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.bins import _NumericBlock
from streamproc.detect.profiles import NumericProfile
from streamproc.events.columns import EventColumns


def test_block_counts_are_each_features_searchsorted_bins():
    """One comparison per edge rank gives every feature's searchsorted bins:
    edges of different lengths (ties, a constant feature), NaN, infinities,
    values on an edge."""
    rng = np.random.default_rng(3)
    reference = {
        "wide": rng.normal(0, 1, 2000),
        "ties": rng.integers(0, 3, 2000).astype(np.float64),
        "constant": np.full(2000, 7.0),
        "skewed": rng.lognormal(0, 2, 2000),
    }
    events = [{"features": {k: float(v[i]) for k, v in reference.items()}} for i in range(2000)]
    baseline = Baseline.fit(EventColumns.from_events("m", events, default_timestamp=0.0))
    block = _NumericBlock.of(baseline)
    assert len({len(baseline.features[n].edges) for n in block.names}) > 1
    matrix = np.stack([rng.normal(0, 3, 500) for _ in block.names])
    matrix[1, :50] = rng.integers(0, 3, 50)  # on the edges
    matrix[:, 60] = np.nan
    matrix[0, 61], matrix[2, 62] = np.inf, -np.inf
    edges = [baseline.features[n].edge_array for n in block.names]
    matrix[3, 70:80] = edges[3][:1].repeat(10)
    counts, nulls = block.counts(matrix)
    for j, name in enumerate(block.names):
        profile: NumericProfile = baseline.features[name]  # type: ignore[assignment]
        start = block.starts[j]
        expected = profile.bin_counts(matrix[j]).tolist()
        assert counts[start : start + profile.bins].tolist() == expected
    assert nulls == [1, 1, 1, 1]
