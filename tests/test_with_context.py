"""engine.apps.structured.tutor.with_context: the window switch the phase-32 planner stage uses (64 -> 128)."""

from __future__ import annotations

import pytest
import torch

from engine.apps.structured.tutor import with_context
from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT


def test_rope_model_extends_and_keeps_its_logits() -> None:
    cfg = MiniGPTConfig(vocab_size=40, context_len=16, d_model=32, n_heads=4, n_layers=2, d_ff=64)
    model = GPT(cfg, seed=0).eval()
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = model(ids)
        with pytest.raises(ValueError, match="exceeds context_len"):
            model(torch.cat([ids, ids], 1))
        wide = with_context(model, 32)
        assert wide.cfg.context_len == 32 and cfg.context_len == 16  # the old config object is untouched
        longer = wide(torch.cat([ids, ids], 1))
    assert longer.shape == (2, 32, 40)
    torch.testing.assert_close(longer[:, :16], before, rtol=0, atol=1e-5)  # causal: the prefix is unchanged


def test_tables_of_positions_are_refused() -> None:
    model = GPT(MiniGPTConfig(vocab_size=40, context_len=16, learned_pos=True), seed=0)
    with pytest.raises(ValueError, match="RoPE"):
        with_context(model, 32)
