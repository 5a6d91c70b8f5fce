"""The quick-run subset helper the phase-30 and phase-32 labs share."""
from engine.labs._subset import every_kth


def test_every_kth_spreads_over_the_list() -> None:
    items = list(range(10))
    assert every_kth(items, 5) == [0, 2, 4, 6, 8]
    assert every_kth(items, 3) == [0, 3, 6]
    assert every_kth(items, 0) == items
    assert every_kth(items, 10) == items
    assert every_kth(items, 99) == items
