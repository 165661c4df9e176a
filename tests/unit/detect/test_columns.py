import numpy as np

from streamproc.detect.columns import categorical_counts, categorical_view, numeric_view
from streamproc.detect.profiles import CategoricalProfile


def test_views_count_nulls_missing_and_wrong_types():
    from streamproc.events.shapes import MISSING

    v = numeric_view([1.0, None, MISSING, "x", 2])
    assert (v.nulls, v.missing, v.wrong_type) == (1, 1, 1)
    c = categorical_view(["a", None, MISSING, 5])
    assert (c.nulls, c.missing, c.wrong_type) == (1, 1, 1)


def test_categorical_counts_match_the_view_and_bin_counts():
    from streamproc.events.shapes import MISSING

    rng = np.random.default_rng(8)
    profile = CategoricalProfile.fit(
        list(rng.choice(["a", "b", "c", "d", "1", "true"], 500)), min_share=0.05
    )
    pools = [
        ["a", "b", "zz", None],
        ["a", "c", None, MISSING],
        ["a", 1, 1.0, True, "1", "true", None, MISSING, 2.5, False],
    ]
    for pool in pools:
        column = [pool[i] for i in rng.integers(0, len(pool), 300)]
        view = categorical_view(column)
        expected = (profile.bin_counts(view.labels), view.nulls, view.missing, view.wrong_type)
        got = categorical_counts(profile, column)
        assert got[0].tolist() == expected[0].tolist() and got[0].dtype == expected[0].dtype
        assert got[1:] == expected[1:]


def test_coded_counts_match_categorical_counts():
    from streamproc.decode.ipc import text_codes
    from streamproc.detect.columns import coded_counts
    from streamproc.events.shapes import MISSING

    rng = np.random.default_rng(9)
    profile = CategoricalProfile.fit(
        list(rng.choice(["a", "b", "c", "d", "e"], 500)), max_categories=3, min_share=0.05
    )
    for pool in (["a", "b", "zz", None], ["a", "c", "e", None, MISSING], ["q"], []):
        column = [pool[i] for i in rng.integers(0, len(pool), 300)] if pool else []
        codes, values = text_codes(column)
        for start, stop in ((0, len(column)), (10, 20), (5, 5)):
            got = coded_counts(profile, codes[start:stop], values)
            expected = categorical_counts(profile, column[start:stop])
            assert got[0].tolist() == expected[0].tolist() and got[1:] == expected[1:]
