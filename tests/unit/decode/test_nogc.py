import gc

from streamproc.decode.nogc import no_gc, settle_gc


def test_no_gc_pauses_and_restores():
    assert gc.isenabled()
    with no_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_settle_gc_freezes_what_exists_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        settle_gc(young=12_345)
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
