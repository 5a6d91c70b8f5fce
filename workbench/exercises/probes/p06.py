"""Phase 06 probes: byte offsets from strides, and a row bias that broadcasts the right way."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree, compare


def strides(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    cases = []
    for shape, dtype in [((3, 4), np.int32), ((2, 3, 5), np.float64), ((7,), np.float32), ((4, 1, 6), np.int16)]:
        a = np.zeros(shape, dtype=dtype)
        for view_name, view in [
            ("C order", a),
            ("transposed", a.T),
            ("every other row", a[::2]),
            ("F order", np.asfortranarray(a)),
        ]:
            for _ in range(4):
                idx = tuple(int(rng.integers(0, n)) for n in view.shape)
                cases.append(
                    (
                        f"index {idx} of a {view_name} {np.dtype(dtype).name} array {view.shape},"
                        f" strides {view.strides}",
                        (idx, view.strides),
                    )
                )
    return agree(learner, reference, "byte_offset", cases)


def row_bias(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for n, v in [(3, 4), (4, 4), (1, 5), (6, 2)]:
        logits, bias = rng.normal(size=(n, v)), rng.normal(size=n) * 100
        keep = logits.copy()
        out += compare("add_row_bias", f"({n}, {v}) logits, ({n},) bias", learner.add_row_bias(logits, bias),
                       reference.add_row_bias(keep.copy(), bias.copy()))
        if not np.array_equal(logits, keep):
            out.append(f"add_row_bias: ({n}, {v}) logits: the input array was modified in place; return a new array")
        if out:
            return out
    return out
