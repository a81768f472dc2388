"""The output pool: bounded, order-preserving, re-raises errors, never drops an output."""

from __future__ import annotations

import threading
import time

import pytest

from vprop.benchmarks.background import OutputPool


def test_results_come_back_in_submission_order_whatever_the_finish_order():
    done = []

    def work(index):
        time.sleep(0.02 * ((7 - index) % 4))  # later submissions often finish first
        done.append(index)
        return index * index

    with OutputPool(workers=3, depth=4) as pool:
        for index in range(12):
            pool.submit(lambda index=index: work(index))
    assert pool.results == [index * index for index in range(12)]
    assert sorted(done) == list(range(12))  # every closure ran, none twice


def test_at_most_depth_closures_are_pending():
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Event()

    def work():
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(1.0)
        with lock:
            running -= 1

    with OutputPool(workers=8, depth=2) as pool:
        pool.submit(work)
        pool.submit(work)
        threading.Timer(0.1, gate.set).start()
        pool.submit(work)  # must wait for the oldest first
        assert len(pool._pending) <= 2
    assert most <= 2 and len(pool.results) == 3


def test_an_error_is_raised_and_later_outputs_still_finish_before_exit():
    finished = []

    def work(index):
        if index == 2:
            raise OSError("disk full")
        time.sleep(0.01)
        finished.append(index)

    with pytest.raises(OSError, match="disk full"):
        with OutputPool(workers=2, depth=8) as pool:
            for index in range(6):
                pool.submit(lambda index=index: work(index))
    assert sorted(finished) == [0, 1, 3, 4, 5]  # nothing still running after the block


def test_an_error_in_the_producer_is_not_masked():
    with pytest.raises(ValueError, match="producer"):
        with OutputPool(workers=1) as pool:
            pool.submit(lambda: 1)
            raise ValueError("producer")


def test_zero_workers_runs_inline():
    thread_ids = []
    with OutputPool(workers=0) as pool:
        pool.submit(lambda: thread_ids.append(threading.get_ident()))
        assert thread_ids == [threading.get_ident()]
    with pytest.raises(ValueError):
        OutputPool(depth=0)


def test_cpu_workers_give_bit_identical_soft_labels(shared_data):
    import numpy as np
    import torch

    from vprop.benchmarks.io import read_rgb
    from vprop.benchmarks.papers import get_preset
    from vprop.benchmarks.pipeline import EngineSettings, propagate_grid_labels
    from vprop.checkpoints import load_backbone

    frames = sorted((shared_data / "davis-mini" / "DAVIS" / "JPEGImages" / "480p" / "train")
                    .glob("*.jpg"))
    extractor = load_backbone(arch="vit_test_patch16")
    first = torch.rand(3, 10, 18, generator=torch.Generator().manual_seed(0))
    runs = []
    for workers in (1, 2):
        settings = EngineSettings(device="cpu", batch_size=3, progress=False, cpu_workers=workers)
        runs.append(list(propagate_grid_labels(
            extractor, (np.asarray(read_rgb(path)) for path in frames), first,
            get_preset("cropmae").override(context=2), (160, 288), settings)))
    assert len(runs[0]) == len(frames) == 4
    assert all(torch.equal(a, b) for a, b in zip(*runs))
