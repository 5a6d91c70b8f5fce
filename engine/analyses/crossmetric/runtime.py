"""One intra-op thread for the tiny models here.

On a shared 2-core box two torch threads spin against each other: a 30-step run of the tiny
transformer took 19 s with two threads and 3 s with one. Labs wrap their work in this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
