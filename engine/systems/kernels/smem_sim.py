"""A CUDA thread block's shared memory simulated in NumPy, for the shared-memory overrun break.

A tiled matmul C = A B with TILE x TILE blocks: each block declares `tile_a[TILE][width]` and
`tile_b[TILE][TILE]` back to back in one shared window; thread (ty, tx) stores A[row, k0 + tx]
at tile_a[ty][tx] and B[k0 + ty, col] at tile_b[ty][tx], the block synchronises, and each
thread sums tile_a[ty][k] * tile_b[k][tx]. The C compiler turns tile_a[ty][tx] into
window[ty * width + tx]: with width = TILE - 1 (the bug) thread (ty, TILE-1) writes the same
word as thread (ty+1, 0), and the last row spills into tile_b[0][0]. Nothing faults. Threads
store in row-major order, so the later thread wins an aliased word (one legal outcome of the
race on a GPU; others change which outputs go wrong, not that they do).
"""

from __future__ import annotations

import numpy as np


def tiled_matmul(A: np.ndarray, B: np.ndarray, tile: int = 16, width: int | None = None) -> np.ndarray:
    """C = A @ B through the simulated shared window; `width` is tile_a's declared row length."""
    width = tile if width is None else width
    n, m = A.shape[0], B.shape[1]
    if A.shape[1] != B.shape[0] or n % tile or m % tile or A.shape[1] % tile:
        raise ValueError(f"shapes {A.shape} @ {B.shape} must be multiples of the tile {tile}")
    C = np.zeros((n, m), dtype=np.float32)
    ty, tx = np.meshgrid(np.arange(tile), np.arange(tile), indexing="ij")
    a_addr = (ty * width + tx).ravel()  # the compiled address of tile_a[ty][tx], threads in row-major order
    b_base = tile * width
    for bi in range(0, n, tile):
        for bj in range(0, m, tile):
            acc = np.zeros((tile, tile), dtype=np.float32)
            for k0 in range(0, A.shape[1], tile):
                window = np.zeros(b_base + tile * tile, dtype=np.float32)
                # fancy-index assignment keeps the last write to a repeated address: the later thread wins
                window[a_addr] = A[bi : bi + tile, k0 : k0 + tile].ravel()
                window[b_base:] = B[k0 : k0 + tile, bj : bj + tile].ravel()
                tile_a = window[(ty[:, :, None] * width + np.arange(tile)[None, None, :])][:, 0, :]  # row ty: [ty][k]
                tile_b = window[b_base:].reshape(tile, tile)
                acc += tile_a @ tile_b
            C[bi : bi + tile, bj : bj + tile] = acc
    return C


def bad_outputs(C: np.ndarray, ref: np.ndarray, rel_tol: float = 1e-4) -> dict[str, object]:
    """Compare every output, not only the worst: the fraction wrong, and where they sit modulo 16."""
    scale = float(np.sqrt(np.mean(np.square(ref)))) or 1.0  # relative to the typical output, not to each one
    err = np.abs(C.astype(np.float64) - ref) / scale
    bad = err > rel_tol
    rows = sorted({int(r) % 16 for r in np.argwhere(bad)[:, 0]})
    return {"bad_output_fraction": float(bad.mean()), "max_rel_err": float(err.max()),
            "bad_rows_mod16": rows, "badly_wrong_fraction": float((err > 0.05).mean())}
