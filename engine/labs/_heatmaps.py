"""Grids of heatmaps (attention, positions, hidden states, cosine and SVD matrices) as PNG artifacts.

The one heatmap renderer: a matrix has no form in the chart spec (workbench/charts: line, scatter,
bar), so labs that show one call this instead of matplotlib. Agg backend, labelled axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def heatmap_grid(panels: Sequence[tuple[str, np.ndarray]], path: Path, *, ncols: int,
                 ticks: Sequence[str] | None = None, cmap: str = "viridis",
                 vmin: float | None = None, vmax: float | None = None, suptitle: str = "",
                 size: tuple[float, float] = (3.4, 3.2)) -> Path:
    """One imshow per (title, matrix), `ncols` per row, each panel `size` inches; token labels on both
    axes when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), dpi=110, squeeze=False)
    for ax, (title, m) in zip(axes.flat, panels, strict=False):
        im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        if ticks is not None and len(ticks) == m.shape[0]:
            ax.set_xticks(range(len(ticks)), ticks, rotation=60, fontsize=7)
            ax.set_yticks(range(len(ticks)), ticks, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
