import numpy as np
import pytest

from streamproc.detect.psi import chi2_quantile, psi, psi_threshold


def direct_psi(expected_counts, observed_counts):
    e = (np.asarray(expected_counts, float) + 0.5) / (
        np.sum(expected_counts) + 0.5 * len(expected_counts)
    )
    o = (np.asarray(observed_counts, float) + 0.5) / (
        np.sum(observed_counts) + 0.5 * len(observed_counts)
    )
    return float(np.sum((o - e) * np.log(o / e)))


@pytest.mark.parametrize("seed", range(5))
def test_psi_matches_direct_numpy_computation(seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=20_000)
    window = rng.normal(0.3, 1.2, size=3_000)
    edges = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=10)
    observed = np.bincount(np.searchsorted(edges, window, side="right"), minlength=10)
    assert psi(expected, observed) == pytest.approx(direct_psi(expected, observed), rel=1e-12)


def test_psi_is_zero_for_identical_and_symmetric():
    a, b = np.array([10, 20, 30]), np.array([30, 20, 10])
    assert psi(a, a) == 0.0
    assert psi(a, b) == pytest.approx(psi(b, a))


def test_empty_bins_stay_finite():
    assert np.isfinite(psi(np.array([100, 0, 0]), np.array([0, 0, 100])))


@pytest.mark.parametrize(
    ("df", "p", "exact"), [(9, 0.95, 16.919), (9, 0.999, 27.877), (4, 0.99, 13.277)]
)
def test_chi2_quantile_close_to_tables(df, p, exact):
    assert chi2_quantile(p, df) == pytest.approx(exact, rel=0.02)


def test_threshold_shrinks_with_window_down_to_the_floor():
    small = psi_threshold(bins=10, window=100, reference=10_000, alpha=1e-6, floor=0.1)
    large = psi_threshold(bins=10, window=10_000, reference=10_000, alpha=1e-6, floor=0.1)
    assert small > 0.4 and large == 0.1


def test_threshold_controls_false_alarms_on_small_windows():
    """Under no drift, windows of 200 events exceed the alpha=1e-3 threshold rarely."""
    rng = np.random.default_rng(1)
    reference = rng.normal(size=10_000)
    edges = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=10)
    threshold = psi_threshold(bins=10, window=200, reference=10_000, alpha=1e-3, floor=0.0)
    values = [
        psi(
            expected,
            np.bincount(np.searchsorted(edges, rng.normal(size=200), side="right"), minlength=10),
        )
        for _ in range(2000)
    ]
    exceed = np.mean(np.asarray(values) > threshold)
    assert exceed < 0.01  # nominal 0.001; a fixed 0.1 threshold would be exceeded often:
    assert np.mean(np.asarray(values) > 0.05) > 0.2
