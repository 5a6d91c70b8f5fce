"""One grouped-query variant of a trained Mini-GPT, measured: perplexity, KV-cache bytes, head entropies.

Phase 27 lab 04 converts the spine model to MHA, GQA and MQA (engine.lm.models.gqa.to_gqa, no
retraining) and compares them. The cache bytes are read from the K/V tensors the attention layers
actually kept on a probe batch and set against the closed form kv_bytes_per_token, so a conversion
that caches the wrong number of heads shows up as a gap, not just as a different perplexity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.lm.eval.harness import compute_ppl
from engine.lm.models.attention_ref import row_entropy
from engine.lm.models.gqa import kv_bytes_per_token, to_gqa
from engine.scratch.autograd.tensor import no_grad


@dataclass
class Variant:
    """A converted model's numbers (bytes per token of the probe batch)."""

    kv_heads: int
    ppl: float
    kv_bytes_per_token: float
    formula_bytes_per_token: int
    attn_params: int
    head_entropy: np.ndarray       # mean attention entropy of each head, last layer
    k_projection_shape: list[int]


def ppl_of(base: Any, tok: Any, texts: list[str], kv: int) -> float:
    """Perplexity of `base` converted to `kv` KV heads."""
    model = to_gqa(base, kv)
    with no_grad():
        return compute_ppl(lambda x: model(x).data, tok, texts)


def measure_variant(base: Any, kv: int, tok: Any, texts: list[str], ids: np.ndarray, dtype_bytes: int) -> Variant:
    """Convert `base` to `kv` KV heads, score it on `texts`, run the probe batch `ids` and read its cache."""
    model = to_gqa(base, kv)
    with no_grad():
        ppl = compute_ppl(lambda x, m=model: m(x).data, tok, texts)
        model(ids)
    attns = [b.attn for b in model.blocks]
    measured = sum(k.nbytes + v.nbytes for a in attns for k, v in [a.last_kv]) / ids.size
    cfg = base.cfg
    return Variant(kv, ppl, measured, kv_bytes_per_token(cfg.n_layers, kv, cfg.d_head, dtype_bytes),
                   sum(p.data.size for p in attns[0].parameters()),
                   row_entropy(attns[-1].last_weights).mean(axis=(0, 2)), list(attns[0].W_k.shape))
