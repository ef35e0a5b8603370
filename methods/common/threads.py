"""One intra-op CPU thread for loops of tiny tensor ops.

Sampling a small flow or PixelCNN frame by frame (or position by position) runs thousands of ops
on tensors far too small to split across threads; on a busy 2-core machine the threads' spin-waits
then dominate (a 7->8 channel 3x3 convolution on 20x32x32: 70 ms with 2 threads under load, 2.4 ms
with one). GPUs are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_cpu_thread(device: torch.device | str) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)`` when ``device`` is the CPU; restore after.

    >>> before = torch.get_num_threads()
    >>> with one_cpu_thread("cpu"):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
