"""engine.torchstack.finetune.checks and the QLoRA preview's pieces (qlora.fp16_and_nf4_pair,
qlora.train_measuring_memory), each against an independent reference: the merge by hand, the
formula, torch's own AdamW loop, the byte count of what AdamW keeps."""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT
from engine.torchstack.finetune import checks
from engine.torchstack.finetune.lora import lora_modules, lora_parameters, wrap_minigpt_with_lora
from engine.torchstack.finetune.qlora import fp16_and_nf4_pair, tensor_bytes, train_measuring_memory
from engine.torchstack.finetune.sft import Row, batch_tensors, sft_loss, train_adapter


def _model() -> GPT:
    return GPT(MiniGPTConfig(vocab_size=64), seed=0).eval()


def _wrapped(scale: float = 0.05) -> nn.Module:
    torch.manual_seed(1)
    m = wrap_minigpt_with_lora(copy.deepcopy(_model()), r=4, alpha=8.0, dropout=0.0)
    with torch.no_grad():
        for p in lora_parameters(m):
            p.normal_(0, scale)
    return m


def _rows(n: int = 24) -> list[Row]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(3, 60, (10,), generator=gen).tolist()
        out.append(Row(ids=(1, *ids, 2), n_prompt=5))
    return out


def test_merge_max_abs_diff_is_rounding_and_catches_a_wrong_merge() -> None:
    m = _wrapped()
    x = torch.randint(0, 60, (2, 12))
    assert checks.merge_max_abs_diff(m, x) < 1e-10
    assert checks.merge_max_abs_diff(m, x, torch.float32) < 1e-4
    assert next(m.parameters()).dtype == torch.float32  # the model itself is untouched
    # the merge by hand, W + (alpha / r) B A, on a float64 copy gives the same logits as the unmerged model
    ref = copy.deepcopy(m).double()
    with torch.no_grad():
        want = ref(x)
        for lo in lora_modules(ref):
            lo.base.weight += (lo.alpha / lo.r) * (lo.B @ lo.A)
            lo.B.zero_()
        assert float((ref(x) - want).abs().max()) < 1e-10
    # a merge that forgets alpha / r is seen
    broken = copy.deepcopy(m).double()
    with torch.no_grad():
        before = broken(x)
        for lo in lora_modules(broken):
            lo.base.weight += lo.B @ lo.A
            lo.B.zero_()
        assert float((broken(x) - before).abs().max()) > 1e-3


def test_formula_rank_zero_and_frozen_base() -> None:
    assert checks.formula_error() < 1e-12
    assert checks.rank_zero_rejected() is True
    m = _wrapped()
    assert checks.base_is_frozen(m)
    next(p for n, p in m.named_parameters() if n.endswith("base.weight")).requires_grad_(True)
    assert not checks.base_is_frozen(m)


def test_base_drift_zero_until_a_weight_moves() -> None:
    base = _model()
    m = wrap_minigpt_with_lora(copy.deepcopy(base), r=4, dropout=0.0)
    assert checks.base_drift(m, base, [0, 5, 9]) == {"base_max_abs_diff": 0.0, "seen_embedding_rows_max_abs_diff": 0.0}
    with torch.no_grad():
        lo = lora_modules(m)[0]
        lo.base.weight[0, 0] += 0.25
        m.E[7] += 0.5  # an unseen row may move
        m.E[5, 1] -= 0.125
    got = checks.base_drift(m, base, [0, 5, 9])
    assert abs(got["base_max_abs_diff"] - 0.25) < 1e-6 and abs(got["seen_embedding_rows_max_abs_diff"] - 0.125) < 1e-6


def test_fp16_and_nf4_pair_share_the_adapter() -> None:
    base = _model()
    a, b = fp16_and_nf4_pair(base, r=4, alpha=8.0, quant_scheme="nf4_per_group_64", seed=3)
    sa, sb = ({n: p for n, p in m.named_parameters() if n.endswith((".A", ".B"))} for m in (a, b))
    assert sorted(sa) == sorted(sb) and all(torch.equal(sa[n], sb[n]) for n in sa)
    assert all(lo.base.weight.dtype == torch.float16 for lo in lora_modules(a))
    assert torch.equal(b.E, base.E) and not a.E.requires_grad and not b.E.requires_grad
    assert float(lora_modules(a)[0].B.abs().max()) > 0
    assert tensor_bytes(b) < tensor_bytes(a)


def test_train_measuring_memory_is_constant_lr_adamw_and_counts_its_state() -> None:
    rows = _rows()
    m = wrap_minigpt_with_lora(copy.deepcopy(_model()), r=4, dropout=0.0)
    ref = copy.deepcopy(m)
    start = tensor_bytes(m)
    seen: list[tuple[int, float]] = []
    losses, mid = train_measuring_memory(m, rows, pad=0, steps=4, lr=1e-2, batch=6, seed=5,
                                         on_step=lambda s, v: seen.append((s, v)))
    # torch's AdamW at a constant lr, the same batches drawn by hand
    opt = torch.optim.AdamW(lora_parameters(ref), lr=1e-2, weight_decay=0.0)
    gen = torch.Generator().manual_seed(5)
    want = []
    ref.train()
    for _ in range(4):
        idx = torch.randint(len(rows), (6,), generator=gen).tolist()
        x, y = batch_tensors([rows[i] for i in idx], 0)
        loss = sft_loss(ref, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        want.append(float(loss.detach()))
    assert losses == want and seen == list(enumerate(want))
    n = sum(p.numel() for p in lora_parameters(m))
    k = len(lora_parameters(m))
    assert mid - start == 4 * n + 8 * n + 4 * k  # grads, Adam's two moments, one float32 step count per tensor
    # one step equals sft.train_adapter's first (cosine starts at the full lr)
    one = wrap_minigpt_with_lora(copy.deepcopy(_model()), r=4, dropout=0.0)
    two = copy.deepcopy(one)
    first, _ = train_measuring_memory(one, rows, pad=0, steps=1, lr=1e-2, batch=6, seed=5)
    assert first == train_adapter(two, rows, pad=0, steps=1, lr=1e-2, batch=6, seed=5, params=lora_parameters(two))
