"""The collector pause around large flushes: off while a large batch is applied, back on
after, whatever happens; a small batch and a collector someone else turned off are left alone."""

import gc

import pytest

from ostia.controller.health import collector


def test_large_batch_pauses_and_resumes_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), collector.paused(collector.PAUSE_FROM):
        assert not gc.isenabled()
        with collector.paused(collector.PAUSE_FROM):  # a second flush thread
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first one still holds it
        raise ValueError
    assert gc.isenabled()


def test_small_batch_leaves_the_collector_alone() -> None:
    with collector.paused(collector.PAUSE_FROM - 1):
        assert gc.isenabled()


def test_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused(collector.PAUSE_FROM):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
