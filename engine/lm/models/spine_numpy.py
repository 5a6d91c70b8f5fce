"""The spine model for from-scratch code: the phase-18 checkpoint as the NumPy twin, with its BPE tokenizer.

Phases 20-22 and 27 run NumPy code (the scratch autograd MiniGPT, the scratch KVCache, the samplers
that call `model(ids).data`). They take the course's one model here: the cached phase-18 torch twin
(engine.lm.train.spine via the registry) exported into the NumPy twin (engine.lm.models.twin, logits
equal to the torch twin's), and the phase-11 BPE tokenizer wrapped in the call shape those labs use:

    model, tok, cks = load(quick=True)                 # MiniGPT, SpineText, [phase-18, tokenizer] Checkpoints
    model, tok, cks = load(quick=True, context_len=200)  # RoPE: a longer context needs no new weights
    ids = tok.encode("es:yo trabajo / en:", bos=True, eos=False)
    tok.decode(ids)                                    # the text, specials dropped
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.lm.models import registry
from engine.lm.models.gpt import MiniGPT
from engine.lm.models.twin import torch_to_numpy
from engine.lm.text.bpe import BPETokenizer

PAD, BOS, EOS = 0, 1, 2  # engine.lm.text.bilingual.SPECIALS, reserved by the spine tokenizer


@dataclass(frozen=True)
class SpineText:
    """The spine's BPE tokenizer with encode(text, bos, eos) / decode(ids) / itos, the NumPy labs' interface."""

    bpe: BPETokenizer

    @property
    def vocab_size(self) -> int:
        return self.bpe.vocab_size

    @property
    def n_special(self) -> int:
        return self.bpe.n_special

    @property
    def itos(self) -> list[str]:
        return [self.bpe.token_str(i) for i in range(self.bpe.vocab_size)]

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]:
        return ([BOS] if bos else []) + self.bpe.encode(text) + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        return self.bpe.decode([int(i) for i in ids if int(i) >= self.bpe.n_special])


def load(quick: bool, dtype: Any = np.float32,
         **overrides: Any) -> tuple[MiniGPT, SpineText, list[registry.Checkpoint]]:
    """The phase-18 spine checkpoint as the NumPy twin (config fields in `overrides` replaced), its tokenizer,
    and the two checkpoints a manifest should name."""
    model, ck = registry.load("phase-18", quick)
    bpe, tok_ck = registry.load("tokenizer", quick)
    cfg = replace(model.cfg, **overrides) if overrides else None
    return torch_to_numpy(model, dtype, cfg), SpineText(bpe), [ck, tok_ck]


def record(rec: Any, cks: Sequence[registry.Checkpoint]) -> str:
    """Name the checkpoints in the run's manifest; returns the model's short name for results."""
    for ck in cks:
        registry.record(rec, ck)
    return f"{cks[0].name}-{cks[0].mode}-{cks[0].key}"
