"""The BK token mixer alone (no FFN, no residual), the unit bk-scaling times against attention.

    x (B, N, d) -> v = clamp(W_v x, +-3)  (B, N, C)  -> BK-Core(-2 + v), causal  (B, C, N, 2)
                -> [Re G, Im G] per channel, channel-last (B, N, 2C) -> W_o -> (B, N, d)

`channels` = d_model is the matched-width comparison (one potential per model dimension);
channels = 1 is the seed's mixer (two numbers per token). It is also the `bk` mixer that
engine.lm.models.gpt_torch can put in place of attention (built as BKMixer(d_model)).
"""

from __future__ import annotations

from torch import Tensor, nn

from engine.research.bk.function import bk_features


class BKMixer(nn.Module):
    """The token-mixing part of a BK layer (no FFN), for a like-for-like timing with attention."""

    def __init__(self, d_model: int, channels: int = 1, causal: bool = True, backend: str = "auto") -> None:
        super().__init__()
        self.v_proj = nn.Linear(d_model, channels)
        self.out_proj = nn.Linear(2 * channels, d_model)
        self.causal, self.backend = causal, backend

    def forward(self, x: Tensor) -> Tensor:
        v = self.v_proj(x).clamp(-3.0, 3.0).transpose(-1, -2)
        feats = bk_features(-2.0 + v, 1.0, 1j, causal=self.causal, backend=self.backend)  # (B, C, N, 2)
        feats = feats.permute(0, 2, 1, 3).reshape(*x.shape[:-1], -1)
        out: Tensor = self.out_proj(feats)
        return out
