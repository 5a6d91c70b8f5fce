"""Evenly spaced subsets, so a quick run still covers every kind of item in an ordered list."""
from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def every_kth(items: list[T], n: int) -> list[T]:
    """n items spread evenly over the list (all of them when n is 0 or at least the length)."""
    if n <= 0 or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]
