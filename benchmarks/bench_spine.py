"""Tokens/s of the torch twin (engine.lm.models.gpt_torch.GPT) against a plain torch.nn Transformer of the same size,
training and decoding, measured interleaved in the same run (issue 13 asks for within 1.5x).

    .venv/bin/python benchmarks/bench_spine.py [--steps 30] [--threads 1]

The reference is nn.TransformerEncoder (norm_first, causal mask, GELU) with nn.Embedding and a tied head, at the
spine's shape (V=512, d=64, 4 heads, 2 layers, d_ff=256); decoding for both re-runs the prefix (no cache), and
the twin is also timed with its KV cache.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT


class Reference(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.E = nn.Embedding(cfg.vocab_size, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, bias=True)
        self.body = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(cfg.d_model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1])
        return self.ln(self.body(self.E(ids), mask=mask, is_causal=True)) @ self.E.weight.T


def _median(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = MiniGPTConfig(vocab_size=512, d_model=64, n_heads=4, n_layers=2, d_ff=256, context_len=64)
    twin, ref = GPT(cfg, seed=0), Reference(cfg)
    n_twin, n_ref = sum(p.numel() for p in twin.parameters()), sum(p.numel() for p in ref.parameters())
    x = torch.randint(0, 512, (a.batch, a.seq))
    opts = {m: torch.optim.AdamW(m.parameters(), 1e-3) for m in (twin, ref)}

    def step(m: nn.Module):
        def run() -> None:
            loss = F.cross_entropy(m(x[:, :-1]).reshape(-1, 512), x[:, 1:].reshape(-1))
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
        return run

    def decode(m: nn.Module, cache: bool):
        @torch.no_grad()
        def run() -> None:
            ids = x[:1, :4]
            c = m.new_cache() if cache else None
            logits = m(ids, cache=c) if cache else m(ids)
            for p in range(4, 36):
                nxt = logits[:, -1:].argmax(-1)
                ids = torch.cat([ids, nxt], 1)
                logits = m(nxt, cache=c, start_pos=p) if cache else m(ids)
        return run

    train = {k: [] for k in ("twin", "ref")}
    dec = {k: [] for k in ("twin", "ref", "twin_cached")}
    for _ in range(3):  # interleaved rounds: both see the same background load
        train["twin"].append(_median(step(twin), a.steps))
        train["ref"].append(_median(step(ref), a.steps))
        dec["twin"].append(_median(decode(twin, False), 3))
        dec["ref"].append(_median(decode(ref, False), 3))
        dec["twin_cached"].append(_median(decode(twin, True), 3))
    tok_train = a.batch * (a.seq - 1)
    tt, tr = tok_train / min(train["twin"]), tok_train / min(train["ref"])
    dt, dr, dc = (32 / min(dec[k]) for k in ("twin", "ref", "twin_cached"))
    print(f"params: twin {n_twin:,}  reference {n_ref:,}  (threads {a.threads})")
    print(f"train tokens/s: twin {tt:,.0f}  reference {tr:,.0f}  ratio ref/twin {tr / tt:.2f}")
    print(f"decode tokens/s (no cache): twin {dt:,.0f}  reference {dr:,.0f}  ratio ref/twin {dr / dt:.2f}")
    print(f"decode tokens/s with the twin's KV cache: {dc:,.0f}")
    ok = max(tr / tt, dr / dt) <= 1.5
    print("within 1.5x of the reference:", ok)


if __name__ == "__main__":
    main()
