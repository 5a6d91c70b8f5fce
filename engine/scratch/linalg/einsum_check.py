"""Predict an einsum's output shape and FLOP count from its subscripts alone, then check.

Rules: an index that appears in the output is free; one that appears only in the inputs is
summed. The output shape lists the free indices' sizes in output order. FLOPs follow NumPy's
own naive count (`np.einsum_path`): the product of every distinct index size, times
(number of operands - 1, at least 1), plus 1 more when two or more operands share a summed
index; so a binary contraction costs 2 x prod (a multiply and an add per term) and a
one-operand reduction or transpose costs 1 x prod. (np.einsum_path prints 4 significant digits.)
"""

from __future__ import annotations

import math
import re

import numpy as np

# Standard dims of the course's MiniGPT (section A13): batch, time, vocab, model, heads, head dim, FFN, tenses.
DIMS = {"B": 32, "T": 16, "V": 600, "D": 64, "H": 4, "K": 16, "F": 256, "C": 5}


def parse(spec: str) -> tuple[list[str], str]:
    lhs, _, out = spec.replace(" ", "").partition("->")
    return lhs.split(","), out


def predict_shape(spec: str, sizes: dict[str, int]) -> tuple[int, ...]:
    _, out = parse(spec)
    return tuple(sizes[c] for c in out)


def predict_flops(spec: str, sizes: dict[str, int]) -> int:
    ins, out = parse(spec)
    letters = set("".join(ins))
    summed = len(ins) > 1 and bool(letters - set(out))
    factor = max(1, len(ins) - 1) + (1 if summed else 0)
    return math.prod(sizes[c] for c in letters) * factor


def numpy_flops(spec: str, operands: list[np.ndarray]) -> int:
    """The 'Naive FLOP count' that np.einsum_path reports, our independent oracle."""
    _, report = np.einsum_path(spec, *operands, optimize="greedy")
    m = re.search(r"Naive FLOP count:\s*([0-9.eE+]+)", report)
    return int(float(m.group(1))) if m else -1


def flops_agree(predicted: int, reported: int) -> bool:
    return abs(predicted - reported) <= 1e-3 * max(predicted, 1)


def operand_shapes(spec: str, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    ins, _ = parse(spec)
    return [tuple(sizes[c] for c in term) for term in ins]


# 20 expressions over the section A13 dims. Letters map to DIMS through `letter_dims`.
PROBLEMS: list[tuple[str, str, dict[str, str]]] = [
    ("embedding lookup", "v,vd->d", {"v": "V", "d": "D"}),
    ("batched embedding", "btv,vd->btd", {"b": "B", "t": "T", "v": "V", "d": "D"}),
    ("tense head", "bd,kd->bk", {"b": "B", "d": "D", "k": "C"}),
    ("FFN up", "btd,df->btf", {"b": "B", "t": "T", "d": "D", "f": "F"}),
    ("FFN down", "btf,fd->btd", {"b": "B", "t": "T", "d": "D", "f": "F"}),
    ("attention scores", "bhqd,bhkd->bhqk", {"b": "B", "h": "H", "q": "T", "k": "T", "d": "K"}),
    ("attention mix", "bhqk,bhkd->bhqd", {"b": "B", "h": "H", "q": "T", "k": "T", "d": "K"}),
    ("square projection", "btd,de->bte", {"b": "B", "t": "T", "d": "D", "e": "D"}),
    ("split heads transpose", "bthk->bhtk", {"b": "B", "t": "T", "h": "H", "k": "K"}),
    ("sum over time", "btd->bd", {"b": "B", "t": "T", "d": "D"}),
    ("per-token dot", "btd,btd->bt", {"b": "B", "t": "T", "d": "D"}),
    ("transpose embedding", "vd->dv", {"v": "V", "d": "D"}),
    ("trace", "ii->", {"i": "D"}),
    ("dot product", "i,i->", {"i": "D"}),
    ("outer product", "i,j->ij", {"i": "D", "j": "F"}),
    ("batched matmul", "bij,bjk->bik", {"b": "B", "i": "T", "j": "D", "k": "T"}),
    ("multi-head Q projection", "btd,hdk->bhtk", {"b": "B", "t": "T", "d": "D", "h": "H", "k": "K"}),
    ("merge heads", "bhtk,hkd->btd", {"b": "B", "t": "T", "d": "D", "h": "H", "k": "K"}),
    ("per-vocab FFN (big)", "btd,dvf->btvf", {"b": "B", "t": "T", "d": "D", "v": "V", "f": "F"}),
    ("Gram of the count matrix", "vp,wp->vw", {"v": "VERBS", "w": "VERBS", "p": "CELLS"}),
]


def letter_sizes(letter_dims: dict[str, str], dims: dict[str, int]) -> dict[str, int]:
    return {c: dims[name] for c, name in letter_dims.items()}
