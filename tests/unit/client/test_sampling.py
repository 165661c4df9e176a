from streamproc.client.ids import uuid7
from streamproc.client.sampling import kept


def test_the_decision_is_a_function_of_the_id():
    ids = [uuid7() for _ in range(20_000)]
    first = [kept(i, 0.1) for i in ids]
    assert first == [kept(i, 0.1) for i in ids]  # the label follows its event
    assert 0.08 < sum(first) / len(ids) < 0.12


def test_a_smaller_rate_keeps_a_subset():
    ids = [f"request-{i}" for i in range(5_000)]
    small = {i for i in ids if kept(i, 0.2)}
    large = {i for i in ids if kept(i, 0.5)}
    assert small < large


def test_rate_one_keeps_everything():
    assert all(kept(f"x{i}", 1.0) for i in range(1_000))
