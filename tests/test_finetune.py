"""engine.torchstack.finetune: LoRALinear identity at init, merge, freezing, save/load, rank 0, counts, QLoRA wrapping."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT
from engine.torchstack.finetune import counts
from engine.torchstack.finetune.lora import (
    LoRALinear,
    load_lora_state_dict,
    lora_parameters,
    lora_state_dict,
    merge_all_,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.qlora import tensor_bytes, wrap_minigpt_qlora


def _model() -> GPT:
    return GPT(MiniGPTConfig(vocab_size=64), seed=0).eval()  # the course's 103,680-parameter shape


def test_lora_linear_matches_torch_formula_and_is_identity_at_init() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(16, 8)
    lo = LoRALinear(lin, r=4, alpha=8.0)
    x = torch.randn(3, 16)
    assert torch.equal(lo(x), lin(x))
    with torch.no_grad():
        lo.B.normal_()
    expected = lin(x) + 2.0 * (x @ lo.A.t() @ lo.B.t())
    assert torch.allclose(lo(x), expected, atol=1e-6)
    assert sum(p.numel() for p in (lo.A, lo.B)) == 4 * (16 + 8)


def test_wrap_freezes_base_and_counts_2304_r() -> None:
    m = wrap_minigpt_with_lora(_model(), r=8, dropout=0.0)
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert all(n.endswith((".A", ".B")) for n in trainable)
    assert sum(p.numel() for p in lora_parameters(m)) == 2304 * 8 == counts.lora_params(MiniGPTConfig(vocab_size=64), 8)


def test_merge_and_state_roundtrip() -> None:
    base = _model()
    m = wrap_minigpt_with_lora(copy.deepcopy(base), r=4, dropout=0.0).double()
    with torch.no_grad():
        for p in lora_parameters(m):
            p.normal_(0, 0.05)
    x = torch.randint(0, 30, (2, 12))
    other = wrap_minigpt_with_lora(copy.deepcopy(base), r=4, dropout=0.0).double()
    load_lora_state_dict(other, lora_state_dict(m))
    with torch.no_grad():
        y = m(x)
        assert torch.equal(other(x), y)
        merge_all_(m)
        assert float((m(x) - y).abs().max()) < 1e-10


def test_rank_zero_rejected_unless_asked_and_then_silent() -> None:
    with pytest.raises(ValueError):
        LoRALinear(nn.Linear(4, 4), r=0)
    lo = LoRALinear(nn.Linear(4, 4), r=0, allow_rank_zero=True)
    opt = torch.optim.AdamW([lo.A, lo.B])  # zero-size parameters: AdamW does not complain
    x = torch.randn(2, 4)
    loss = lo(x).sum()
    loss.backward()
    opt.step()
    assert lo.A.numel() == 0 and torch.equal(lo(x), lo.base(x))


def test_counts_and_qlora_memory() -> None:
    cfg = MiniGPTConfig(vocab_size=64)
    assert counts.base_params(cfg) == 103_680
    full = counts.regime("full", cfg)
    assert (full["weights_bytes"] + full["grads_bytes"] + full["adam_bytes"]) / 103_680 == 16
    base = _model()
    q = wrap_minigpt_qlora(base, r=8, dropout=0.0)
    a = wrap_minigpt_with_lora(copy.deepcopy(base), r=8, dropout=0.0)
    assert tensor_bytes(q) < tensor_bytes(a)
    assert torch.isfinite(q(torch.randint(0, 30, (1, 8)))).all()
