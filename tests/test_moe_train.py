"""The dense-vs-MoE trainer behind phase 36, reached without the lab: the MoE model trains through
train_step's `aux`, and its routing counts every real token exactly top_k times."""

from __future__ import annotations

import numpy as np

from engine.lm.train.moe_train import train_pair_member


def test_moe_member_counts_each_real_token_top_k_times() -> None:
    seen: list[np.ndarray] = []
    out = train_pair_member(d_model=16, d_ff=32, steps=4, seed=3, moe_layer=0, experts=(4, 2), alpha=0.01,
                            on_eval=lambda step, loss, tokens: seen.append(tokens))
    assert np.isfinite(out["val_loss"]) and len(out["slot_share"]) == 4
    assert abs(sum(out["slot_share"]) - 1.0) < 1e-6  # float32 shares
    assert np.allclose(out["tokens_using_expert"], np.asarray(out["slot_share"]) * 2, atol=1e-6)  # 2 slots a token
    assert seen and all(t is not None and t.sum() % 2 == 0 for t in seen)


def test_dense_member_has_no_routing_and_fewer_params() -> None:
    dense = train_pair_member(d_model=16, d_ff=32, steps=2, seed=3, moe_layer=0, experts=None, alpha=0.0)
    moe = train_pair_member(d_model=16, d_ff=32, steps=2, seed=3, moe_layer=0, experts=(4, 1), alpha=0.0)
    assert "slot_share" not in dense and dense["params"] < moe["params"]
