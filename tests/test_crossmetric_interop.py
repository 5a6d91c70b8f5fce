"""The scope's circuit metrics and Hessian eigenvalues against independent peers (optional extra `interop`).

- TransformerLens: the TinyTransformer's weights loaded into a HookedTransformer; its attention patterns,
  the induction / previous-token scores computed from them, its logit lens and its K-composition scores
  must equal what the scope computes from the project model.
- PyHessian: top Hessian eigenvalue and trace of a small MLP vs the scope's Lanczos and Hutch++.
Both skip with the install command when the package is absent: pip install -e '.[interop]'.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.research.crossmetric import metrics_circuits, scope, views
from engine.research.crossmetric.models import TinyConfig, TinyTransformer

INSTALL = "pip install -e '.[interop]'"


def _tiny() -> TinyTransformer:
    torch.manual_seed(0)
    model = TinyTransformer(TinyConfig(vocab_size=11, n_ctx=16, d_model=16, n_heads=4, n_layers=2, d_ff=32)).double()
    with torch.no_grad():                               # LayerNorm affine away from (1, 0) so its mapping is tested
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(0.1 * torch.randn_like(m.weight))
                m.bias.add_(0.1 * torch.randn_like(m.bias))
    return model.eval()


def _to_lens(model: TinyTransformer):  # noqa: ANN202
    tl = pytest.importorskip("transformer_lens", reason=f"TransformerLens is not installed: {INSTALL}")
    try:
        tl.HookedTransformer  # noqa: B018 - removed in TransformerLens 4
    except (ImportError, AttributeError):
        pytest.skip(f"TransformerLens {getattr(tl, '__version__', '?')} has no HookedTransformer (needs 2.x): {INSTALL}")
    cfg = model.cfg
    dh = cfg.d_model // cfg.n_heads
    hooked = tl.HookedTransformer(tl.HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_ctx=cfg.n_ctx, d_head=dh, n_heads=cfg.n_heads, d_mlp=cfg.d_ff,
        d_vocab=cfg.vocab_size, act_fn="gelu", normalization_type="LN", positional_embedding_type="standard",
        dtype=torch.float64, device="cpu", default_prepend_bos=False))
    view = views.view_of(model)
    sd = {"embed.W_E": model.tok.weight, "pos_embed.W_pos": model.pos.weight, "ln_final.w": model.ln_f.weight,
          "ln_final.b": model.ln_f.bias, "unembed.W_U": model.head.weight.T,
          "unembed.b_U": torch.zeros(cfg.vocab_size, dtype=torch.float64)}
    for i, (blk, hw) in enumerate(zip(model.blocks, view.head_weights(), strict=True)):
        p = f"blocks.{i}."
        sd.update({p + "ln1.w": blk.ln1.weight, p + "ln1.b": blk.ln1.bias, p + "ln2.w": blk.ln2.weight,
                   p + "ln2.b": blk.ln2.bias, p + "attn.W_Q": hw.W_Q, p + "attn.W_K": hw.W_K, p + "attn.W_V": hw.W_V,
                   p + "attn.W_O": hw.W_O, p + "mlp.W_in": blk.fc1.weight.T, p + "mlp.b_in": blk.fc1.bias,
                   p + "mlp.W_out": blk.fc2.weight.T, p + "mlp.b_out": blk.fc2.bias})
        for z in ("b_Q", "b_K", "b_V"):
            sd[p + f"attn.{z}"] = torch.zeros(cfg.n_heads, dh, dtype=torch.float64)
        sd[p + "attn.b_O"] = torch.zeros(cfg.d_model, dtype=torch.float64)
    missing = hooked.load_state_dict({k: v.detach().clone() for k, v in sd.items()}, strict=False)
    assert not [k for k in missing.missing_keys if not k.endswith(("IGNORE", "mask"))], missing.missing_keys
    return hooked.eval()


def test_induction_prev_token_and_logit_lens_match_transformer_lens() -> None:
    model = _tiny()
    hooked = _to_lens(model)
    block = 6
    ids = metrics_circuits.repeated_tokens(11, block, 5, torch.Generator().manual_seed(3))
    logits, cache = hooked.run_with_cache(ids)
    with torch.no_grad():
        ours_logits = model(ids)
    assert torch.allclose(logits, ours_logits, atol=1e-10)          # the same network
    pats: list[torch.Tensor] = []
    with torch.no_grad(), views.capture_attention(model, pats):
        model(ids)
    view = views.view_of(model)
    for layer in range(2):
        theirs = cache["pattern", layer]
        assert torch.allclose(pats[layer], theirs, atol=1e-12)
        ours_ind = metrics_circuits.induction_scores(pats[layer], block)
        # TransformerLens's own recipe: the induction stripe is the diagonal at offset 1 - block
        tl_ind = theirs.diagonal(1 - block, dim1=-2, dim2=-1)[..., 1:].mean((0, -1))   # drop query block-1 (first copy)
        assert torch.allclose(ours_ind, tl_ind, atol=1e-12)
        tl_prev = theirs.diagonal(-1, dim1=-2, dim2=-1).mean((0, -1))
        assert torch.allclose(metrics_circuits.prev_token_scores(pats[layer]), tl_prev, atol=1e-12)
    store: list[torch.Tensor] = []
    with torch.no_grad(), view.residuals(store):
        model(ids)
    for layer in range(2):
        tl_lens = hooked.unembed(hooked.ln_final(cache["resid_post", layer]))
        assert torch.allclose(view.final(store[layer]), tl_lens, atol=1e-10)
    # K-composition between layer-0 and layer-1 heads, TransformerLens's definition vs ours
    tl_k = hooked.all_composition_scores("K")        # (L, H, L, H), zero where not earlier -> later
    ours = metrics_circuits.composition_max(view, "k")
    assert ours == pytest.approx(float(tl_k.max()), rel=1e-8)


def test_hessian_eigenvalues_and_trace_match_pyhessian() -> None:
    pyhessian = pytest.importorskip("pyhessian", reason=f"PyHessian is not installed: {INSTALL}")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (64,), generator=g)
    n = sum(p.numel() for p in model.parameters())
    out = scope.run(model, [(x, y)], F.cross_entropy, metrics=["hessian_top_eig", "hessian_lambda2",
                                                                 "hessian_trace_hutchpp"],
                    options={"lanczos_steps": n, "hutchpp_matvecs": 3 * n})
    torch.manual_seed(0)
    h = pyhessian.hessian(model, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    eigs, _ = h.eigenvalues(maxIter=500, tol=1e-8, top_n=2)
    assert out["hessian_top_eig"] == pytest.approx(eigs[0], rel=1e-4)
    assert out["hessian_lambda2"] == pytest.approx(eigs[1], rel=1e-3)
    trace = float(torch.tensor(h.trace(maxIter=2000, tol=1e-4)).mean())
    assert out["hessian_trace_hutchpp"] == pytest.approx(trace, rel=0.1)       # PyHessian's is a noisy Hutchinson
