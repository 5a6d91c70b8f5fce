"""The phase-28 grammar tutor: a LoRA adapter on the phase-18 base model, as a named model-cache stage.

The base model only ever read "es:... / en:..." pair lines. The adapter teaches it the tutor
format of engine.lm.text.bilingual: given "fix: he work =>" it answers
" he works | missing third person s | es: él trabaja" (the corrected form, why, the Spanish form).
Training rows are the tutor rows (correct and mis-conjugated) of the 16 training verbs, minus a
fixed 10 % held out by hash for testing, mixed with replayed pair lines so the pair-line skill
is not forgotten. A and B train, and so do the embedding rows of the tokens the base never read
(" |", "fix:", the reasons' words: engine.torchstack.finetune.token_rows); every row the base learned
stays bit-identical, and the base checkpoint is never written to.

    model, ck = registry.load("phase-28", quick)   # base + adapter (frozen, eval), its checkpoint record
    plain = merged_tutor(quick)                    # a plain GPT with the adapter folded in: stack a new LoRA on it
    reply = generate_reply(model, tok, "fix: he goed =>")   # greedy, KV cache

Defaults live in QUICK / FULL below (a cache stage shared by phases 28-32, like engine.lm.train.spine).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.models.gpt_torch import GPT
from engine.lm.text import bilingual as B
from engine.lm.train import spine
from engine.torchstack.finetune.lora import (
    adapter_hash,
    load_adapter,
    lora_parameters,
    merge_all_,
    read_adapter,
    save_adapter,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.sft import Row, encode_pairs, train_adapter
from engine.torchstack.finetune.token_rows import enable_rows, load_rows, new_token_ids, save_rows, seen_token_ids

FULL: dict[str, Any] = {"r": 8, "alpha": 16.0, "dropout": 0.0, "steps": 1500, "lr": 1e-2, "batch": 32, "seed": 42,
                        "replay_ratio": 0.5, "test_percent": 10, "new_token_rows": True, "threads": 1}
QUICK: dict[str, Any] = {**FULL, "steps": 600}  # measured: 600 steps -> 0.68 all-three-fields, 0.84 form
ADAPTER_FILE, ROWS_FILE = "adapter.safetensors", "token_rows.safetensors"


# ---------------------------------------------------------------------- data
def _bucket(e: B.Example) -> int:
    return int(hashlib.sha256(f"tutor|{e.id}".encode()).hexdigest()[:8], 16) % 100


def tutor_split(test_percent: int = 10) -> tuple[list[B.Example], list[B.Example], list[B.Example]]:
    """(train, test, unseen): tutor rows of the 16 training verbs split by hash, and every row of the 4 held-out verbs."""
    seen = B.examples("train", label=None)
    train = [e for e in seen if _bucket(e) >= test_percent]
    test = [e for e in seen if _bucket(e) < test_percent]
    return train, test, B.examples("val", label=None)


def tutor_rows(tok: Any, examples: Sequence[B.Example], context_len: int) -> list[Row]:
    return encode_pairs([B.prompt_response(e, "tutor") for e in examples], tok.encode, bos=B.BOS, eos=B.EOS,
                        context_len=context_len)


def replay_rows(tok: Any, n: int, context_len: int) -> list[Row]:
    """Pair lines as rows with an empty prompt (loss on every token, as in pre-training), the first n."""
    lines = B.lines("train", ("pair", "pair_en_es"))
    return encode_pairs([("", s) for s in lines[:n]], tok.encode, bos=B.BOS, eos=B.EOS, context_len=context_len)


def training_rows(cfg: dict[str, Any], tok: Any, context_len: int) -> list[Row]:
    train, _, _ = tutor_split(int(cfg["test_percent"]))
    rows = tutor_rows(tok, train, context_len)
    return rows + replay_rows(tok, int(float(cfg["replay_ratio"]) * len(rows)), context_len)


# ---------------------------------------------------------------------- decoding and scoring
@torch.no_grad()
def generate_ids(model: nn.Module, prompt: Sequence[int], max_new_tokens: int, stop: Sequence[int]) -> list[int]:
    """Greedy decoding with the KV cache; stops at a stop id (not returned) or the context's end."""
    ctx = int(model.cfg.context_len)  # type: ignore[union-attr]
    cache = model.new_cache()  # type: ignore[operator]
    logits = model(torch.tensor([list(prompt)]), cache=cache, start_pos=0)
    out: list[int] = []
    pos = len(prompt)
    while len(out) < max_new_tokens and pos < ctx:
        nxt = int(logits[0, -1].argmax())
        if nxt in stop:
            break
        out.append(nxt)
        logits = model(torch.tensor([[nxt]]), cache=cache, start_pos=pos)
        pos += 1
    return out


def generate_reply(model: nn.Module, tok: Any, prompt: str, max_new_tokens: int = 48) -> str:
    ids = generate_ids(model, [B.BOS, *tok.encode(prompt)], max_new_tokens, (B.EOS, B.PAD))
    return str(tok.decode(ids))


def parse_reply(reply: str) -> tuple[str, str, str]:
    """(corrected English, reason, Spanish) from " he works | missing third person s | es: él trabaja"."""
    parts = [p.strip() for p in reply.split("|")]
    parts += [""] * (3 - len(parts))
    spanish = parts[2].removeprefix("es:").strip()
    return parts[0], parts[1], spanish


def score_tutor(model: nn.Module, tok: Any, examples: Sequence[B.Example]) -> dict[str, float]:
    """Greedy replies against the truth: corrected form, reason, Spanish form, all three (exact, stripped)."""
    hits = {"form": 0, "reason": 0, "spanish": 0, "all": 0}
    for e in examples:
        form, why, es = parse_reply(generate_reply(model, tok, B.tutor_prompt(e.text)))
        ok = (form == e.english, why == B.reason(e), es == e.spanish)
        for k, v in zip(("form", "reason", "spanish"), ok, strict=True):
            hits[k] += int(v)
        hits["all"] += int(all(ok))
    n = max(len(examples), 1)
    return {k: v / n for k, v in hits.items()}


# ---------------------------------------------------------------------- the cache stage
def build_adapter(cfg: dict[str, Any], base: GPT, tok: Any, seen: set[int] | None = None,
                  on_step: Any = None) -> tuple[nn.Module, list[float], list[int]]:
    """Wrap a trainable copy of `base` with LoRA (rank cfg["r"], which may be 0 for the break) and train it
    on the tutor rows, with the rows of tokens outside `seen` when cfg["new_token_rows"]; seeded.
    Returns (model, per-step loss, ids of the embedding rows trained)."""
    with torch_threads(int(cfg["threads"])):
        torch.manual_seed(int(cfg["seed"]))  # A's Kaiming init
        model = wrap_minigpt_with_lora(spine.fresh_copy(base), r=int(cfg["r"]), alpha=float(cfg["alpha"]),
                                       dropout=float(cfg["dropout"]), allow_rank_zero=int(cfg["r"]) == 0)
        rows = training_rows(cfg, tok, int(base.cfg.context_len))
        params = lora_parameters(model)
        new_ids: list[int] = []
        if cfg["new_token_rows"] and seen is not None:
            new_ids = new_token_ids((r.ids for r in rows), seen)
            params = [*params, enable_rows(model, new_ids)]
        losses = train_adapter(model, rows, pad=B.PAD, steps=int(cfg["steps"]), lr=float(cfg["lr"]),
                               batch=int(cfg["batch"]), seed=int(cfg["seed"]), params=params, on_step=on_step)
    return model, losses, new_ids


def _config(quick: bool) -> dict[str, Any]:
    return {"mode": "quick" if quick else "full", **(QUICK if quick else FULL)}


def _data(quick: bool) -> str:
    train, _, _ = tutor_split(int(_config(quick)["test_percent"]))
    return "\n".join("".join(B.prompt_response(e, "tutor")) for e in train)


def _build(cfg: dict[str, Any], out: Path) -> None:
    quick = cfg["mode"] == "quick"
    base, tok, base_ck = spine.base_model(quick)
    model, losses, new_ids = build_adapter(cfg, base, tok, seen_token_ids(tok, "phase-18", quick))
    save_adapter(model, out / ADAPTER_FILE, {"base": base_ck.record()["sha256"], "base_key": base_ck.key,
                                             "new_token_rows": len(new_ids)})
    save_rows(model, new_ids, out / ROWS_FILE)
    (out / "history.json").write_text(json.dumps({"loss": [round(v, 5) for v in losses]}) + "\n")


def _load(d: Path) -> nn.Module:
    quick = "-quick-" in d.name
    base, _, _ = spine.base_model(quick)
    model = load_adapter(spine.fresh_copy(base), d / ADAPTER_FILE)
    load_rows(model, d / ROWS_FILE)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


registry.register(registry.Spec("phase-28", "adapter", _config, _data, _build, _load,
                                code=("engine.torchstack.finetune.lora", "engine.torchstack.finetune.sft", "engine.torchstack.finetune.token_rows",
                                      "engine.lm.text.bilingual", __name__),
                                parents=("phase-18",)))


def tutor(quick: bool = False) -> tuple[nn.Module, Any, registry.Checkpoint]:
    """The tutor (base + adapter, frozen, eval), its tokenizer and its checkpoint record."""
    model, ck = registry.load("phase-28", quick)
    return model, spine.tokenizer(quick), ck


def merged_tutor(quick: bool = False) -> GPT:
    """A trainable plain GPT whose weights are base + (alpha / r) B A: the tutor with its adapter folded in."""
    model, _, _ = tutor(quick)
    return merged_copy(model)


def merged_copy(model: nn.Module) -> GPT:
    """A plain, trainable GPT equal to a LoRA-wrapped one: adapters merged, `.base.` names unwrapped."""
    wrapped = copy.deepcopy(model)
    merge_all_(wrapped)
    plain = GPT(model.cfg).to(model.E.dtype)  # type: ignore[arg-type]  (a float64 copy stays float64)
    plain.load_state_dict({k.replace(".base.", "."): v for k, v in wrapped.state_dict().items()
                           if not k.endswith((".A", ".B"))})
    return plain.train().requires_grad_(True)


def adapter_record(ck: registry.Checkpoint) -> dict[str, Any]:
    """Base and adapter hashes of a phase-28 checkpoint (what a manifest should name)."""
    state, meta = read_adapter(ck.path / ADAPTER_FILE)
    return {"adapter_hash": adapter_hash(state), "base_sha256": meta.get("base"), "base_key": meta.get("base_key"),
            "r": meta["r"], "alpha": meta["alpha"], "new_token_rows": meta.get("new_token_rows")}
