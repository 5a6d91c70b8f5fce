"""The course's model as the masked decoder expects it: a registry stage wrapped for `generate`.

Why: phases 30 and 31 decode under logit masks; the model they mask is the course's one model
(the phase-28 grammar tutor, LoRA on the phase-18 spine, by default; "phase-30" is the same
tutor taught JSON), with the spine's byte-level BPE vocabulary seen through MaskVocab, so every
mask walks real multi-byte tokens. The checkpoints come back so a run's manifest can name them.

    cm = load(quick=True)                          # phase-28 tutor
    generate(cm.lm, cm.vocab, cm.vocab.encode("the year is "), rng, mask=DigitMask(cm.vocab))
    record(rec, cm)                                # tutor, its parent and the tokenizer in the manifest
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.apps.structured.decode import TorchLM
from engine.apps.structured.vocab import MaskVocab
from engine.lm.models import registry
from engine.lm.text import bilingual as B

TUTOR = "phase-28"  # the grammar tutor; never taught JSON, so the mask is what makes documents
JSON_TUTOR = "phase-30"  # the tutor fine-tuned on conjugation JSON (engine.apps.structured.tutor)
MODELS = (TUTOR, JSON_TUTOR)


@dataclass(frozen=True)
class CourseModel:
    """A stage's model as next_logits over its window, its mask vocabulary and its checkpoints."""

    name: str
    lm: TorchLM
    vocab: MaskVocab
    checkpoints: tuple[registry.Checkpoint, ...]  # the stage's, then the tokenizer's


def load(quick: bool, name: str = TUTOR) -> CourseModel:
    """The named stage (built into the model cache if missing), eval mode, frozen."""
    if name not in MODELS:
        raise ValueError(f"unknown course model {name!r}; choose one of {MODELS}")
    model, ck = registry.load(name, quick)
    bpe, tok_ck = registry.load("tokenizer", quick)
    return CourseModel(name, TorchLM(model, int(model.cfg.context_len)), MaskVocab(bpe, B.BOS, B.EOS), (ck, tok_ck))


def record(rec: Any, cm: CourseModel, quick: bool) -> str:
    """Name the stage, its parents and the tokenizer in the run's manifest; returns name-mode-key."""
    ck, tok_ck = cm.checkpoints
    registry.record_lineage(rec, ck, quick)
    registry.record(rec, tok_ck)
    return f"{ck.name}-{ck.mode}-{ck.key}"
