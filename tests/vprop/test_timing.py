"""The stage timer: off by default, thread-safe sums when recording, nothing else changed."""

from __future__ import annotations

import threading
import time

from vprop import timing
from vprop.timing import StageTimer, recording, stage


def test_stages_are_free_no_ops_unless_a_timer_is_recording():
    assert timing.active() is None
    with stage("decode"):
        pass  # nothing recorded anywhere, no error
    timer = StageTimer()
    with recording(timer):
        assert timing.active() is timer
        with stage("decode"):
            time.sleep(0.02)
        with stage("decode"):
            pass
    assert timing.active() is None
    with stage("decode"):
        time.sleep(0.02)  # after the block: not charged
    report = timer.report()
    assert list(report) == ["decode"] and report["decode"]["calls"] == 2
    assert 0.02 <= report["decode"]["seconds"] < 0.5


def test_stages_from_many_threads_add_up_exactly():
    timer = StageTimer()

    def work():
        for _ in range(1000):
            timer.add("png", 0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    with recording(timer):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert timer.report()["png"]["calls"] == 4000
    assert abs(timer.seconds("png") - 4.0) < 1e-9
    assert timer.seconds("never") == 0.0


def test_a_failing_stage_is_still_charged_and_the_error_passes():
    timer = StageTimer()
    with recording(timer):
        try:
            with stage("scoring", device="cpu"):
                raise KeyError("boom")
        except KeyError:
            pass
    assert timer.report()["scoring"]["calls"] == 1
