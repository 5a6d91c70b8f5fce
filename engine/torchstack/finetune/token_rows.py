"""Trainable token rows: the embedding rows of tokens the base model never read train with the adapter.

Why LoRA is not enough (found by E2 on phase 30, and true of the tutor too): the phase-18 base
reads only pair lines, so tokens that occur only in a new format ("fix:", " =>", " |", JSON keys)
keep their random initial rows of E, which is also the tied LM head. A low-rank change of the
hidden state cannot give such a token a high logit, so the loss stalls. PEFT calls the remedy
"trainable token indices": E becomes trainable, and a gradient hook zeroes the gradient of every
row but the new ones. AdamW with zero weight decay then leaves the learned rows bit-identical
(their moments stay 0, so their update is exactly 0).

    new = new_token_ids(tok, rows_ids, registry_stage="phase-18", quick=quick)
    params = lora_parameters(model) + [enable_rows(model, new)]
    ... train ...
    save_rows(model, new, path);  load_rows(model, path)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.lm.models import registry
from engine.lm.text import bilingual as B


def seen_token_ids(tok: Any, stage: str, quick: bool) -> set[int]:
    """Every token id in the training text of `stage` and of the stages below it (plus <bos>, <eos>)."""
    seen: set[int] = {B.BOS, B.EOS}
    todo = [stage]
    while todo:
        s = registry.spec(todo.pop())
        if s.kind == "tokenizer":
            continue
        for line in s.data(quick).split("\n"):
            seen.update(tok.encode(line))
        todo.extend(s.parents)
    return seen


def new_token_ids(used: Iterable[Iterable[int]], seen: set[int]) -> list[int]:
    """Sorted ids that occur in `used` (token id sequences) and not in `seen`."""
    return sorted({i for ids in used for i in ids} - seen)


def enable_rows(model: nn.Module, ids: list[int]) -> nn.Parameter:
    """Make model.E trainable with only rows `ids` receiving gradient; returns E for the optimizer."""
    E: nn.Parameter = model.E  # type: ignore[assignment]
    keep = torch.zeros(E.shape[0], 1, dtype=E.dtype, device=E.device)
    keep[ids] = 1.0
    E.requires_grad_(True)
    E.register_hook(lambda g: g * keep)
    return E


def save_rows(model: nn.Module, ids: list[int], path: str | Path) -> None:
    from engine.core import tensorfile

    idx = torch.tensor(ids, dtype=torch.long)
    tensorfile.save({"ids": idx, "rows": model.E.detach()[idx].float().contiguous()}, path)  # type: ignore[index]


@torch.no_grad()
def load_rows(model: nn.Module, path: str | Path) -> int:
    """Write the saved rows into model.E; returns how many."""
    from safetensors.torch import load_file

    t = load_file(str(path))
    if len(t["ids"]):
        model.E[t["ids"]] = t["rows"].to(model.E.dtype)  # type: ignore[index]
    return len(t["ids"])
