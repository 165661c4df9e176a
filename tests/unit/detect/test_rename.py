import numpy as np

from streamproc.detect.profiles import CategoricalProfile, NumericProfile
from streamproc.detect.rename import SAMPLE, likely_renames, sample_new
from streamproc.events.shapes import MISSING


def test_sample_keeps_the_first_values_and_skips_absences():
    samples = {}
    sample_new(samples, "x", [MISSING, 1.0, None, "a"])
    sample_new(samples, "x", np.arange(1000.0))
    assert samples["x"][:3] == [1.0, "a", 0.0] and len(samples["x"]) == SAMPLE


def test_the_closest_profile_wins_and_a_new_feature_pairs_once():
    rng = np.random.default_rng(0)
    profiles = {
        "age": NumericProfile.fit(rng.normal(40, 10, 5000)),
        "income": NumericProfile.fit(rng.normal(50_000, 9_000, 5000)),
    }
    samples = {"age_years": rng.normal(40, 10, 200).tolist()}
    pairs = likely_renames(
        profiles, {"age": 1.0, "income": 1.0}, {"age_years": 1.0}, samples, max_psi=0.25
    )
    assert pairs == {"age": "age_years"}


def test_no_rename_when_shares_differ_or_types_do_not_match():
    profile = {"c": CategoricalProfile.fit(["a", "b"] * 100)}
    same = {"d": ["a", "b"] * 50}
    assert likely_renames(profile, {"c": 1.0}, {"d": 0.5}, same, max_psi=0.25) == {}
    numbers = {"d": [1.0, 2.0] * 50}
    assert likely_renames(profile, {"c": 1.0}, {"d": 1.0}, numbers, max_psi=0.25) == {}
