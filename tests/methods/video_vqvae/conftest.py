"""One intra-op thread for these tests: their networks are tiny, and with several threads each of
the thousands of small ops (per-position autoregressive sampling, per-frame flows) pays thread
synchronisation that dominates on a busy 2-core machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
