"""One chart spec (content's `charts:` entries), rendered by plotext (terminal) and matplotlib (PNG)."""

from workbench.charts.spec import Series, series

__all__ = ["Series", "series"]
