"""The BK token mixer alone (no FFN, no residual), the unit bk-scaling times against attention.

    x (B, N, d) -> v = clamp(W_v x, +-3)  (B, N, C)  -> BK-Core(-2 + v), causal  (B, C, N, 2)
                -> [Re G, Im G] per channel, channel-last (B, N, 2C) -> W_o -> (B, N, d)

`channels` = d_model is the matched-width comparison (one potential per model dimension);
channels = 1 is the seed's mixer (two numbers per token). It is also the `bk` mixer that
engine.lm.models.gpt_torch can put in place of attention (built as BKMixer(d_model)).
`fused` (the default) runs the projections through engine.research.bk.projections (the clamp and
shift folded into the first; both backwards in the BLAS orientation their skinny shapes want);
fused=False is the plain nn.Linear path, the same values, kept to time one against the other.
"""

from __future__ import annotations

from torch import Tensor, nn

from engine.research.bk.function import bk_features
from engine.research.bk.projections import clamped_potential, skinny_linear


class BKMixer(nn.Module):
    """The token-mixing part of a BK layer (no FFN), for a like-for-like timing with attention."""

    def __init__(self, d_model: int, channels: int = 1, causal: bool = True, backend: str = "auto",
                 fused: bool = True) -> None:
        super().__init__()
        self.v_proj = nn.Linear(d_model, channels)
        self.out_proj = nn.Linear(2 * channels, d_model)
        self.causal, self.backend, self.fused = causal, backend, fused

    def forward(self, x: Tensor) -> Tensor:
        vp, op = self.v_proj, self.out_proj
        if self.fused:  # the same values; the projections' backward in the orientation their shapes want
            diag = clamped_potential(x, vp.weight, vp.bias, 3.0, -2.0).transpose(-1, -2)
        else:
            diag = -2.0 + vp(x).clamp(-3.0, 3.0).transpose(-1, -2)
        feats = bk_features(diag, 1.0, 1j, causal=self.causal, backend=self.backend)  # (B, C, N, 2)
        feats = feats.permute(0, 2, 1, 3).reshape(*x.shape[:-1], -1)
        out: Tensor = skinny_linear(feats, op.weight, op.bias) if self.fused else op(feats)
        return out
