"""Pretraining tests run single-threaded: tiny models gain nothing from threads, and a busy
2-core machine makes OpenMP spin-waiting very slow."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
