import pickle

from streamproc.events.shapes import MISSING, Rejection, category, type_name


def test_missing_survives_pickling_as_the_singleton():
    assert pickle.loads(pickle.dumps([MISSING]))[0] is MISSING


def test_type_names_and_categories():
    assert [type_name(v) for v in ({}, [], "", True, None, 1, 1.5)] == [
        "object",
        "array",
        "string",
        "boolean",
        "null",
        "number",
        "number",
    ]
    assert [category(v) for v in (True, False, 1, 1.5, "a")] == ["true", "false", "1", "1.5", "a"]


def test_rejections_compare_by_value():
    assert Rejection("bad_json", "x", 1) == Rejection("bad_json", "x", 1)
