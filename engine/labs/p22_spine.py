"""Phase 22, lab 04: the KV cache on the bilingual spine model changes no token.

The phase-18 spine checkpoint (torch twin) decodes every prompt twice - with its KV cache (prefill
once, then one token per step at its position) and without (the whole prefix every step) - greedy
and sampled at τ = 1 with the same seed. The token lists must be identical. The same is checked
for the GQA and MLA switches of the one config (random weights: equality does not need training),
and the values cached per token are reported, which is what those variants exist to shrink.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.infer.sampling import Greedy, Temperature
from engine.lm.infer.torch_decode import generate
from engine.lm.models import registry
from engine.lm.models.gpt_torch import GPT
from engine.lm.text import bilingual as B


def spine_cache(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, ck = registry.load("phase-18", quick)
    tok, tok_ck = registry.load("tokenizer", quick)
    registry.record(rec, ck)
    registry.record(rec, tok_ck)
    rows = B.unique_cells(B.examples("all"))
    n = int(cfg["n_prompts"])
    rows = rows[:: max(1, len(rows) // n)][:n]
    prompts = [[B.BOS, *tok.encode(B.pair_line(e, "es-en")[: int(cfg["prompt_chars"])])] for e in rows]
    diverged, total = 0, 0
    with torch_threads(1), torch.no_grad():
        for i, p in enumerate(prompts):
            for name, strat in (("greedy", Greedy()), ("tau1", Temperature(1.0))):
                seed = int(cfg["seed"]) * 1000 + i
                a = generate(model, p, int(cfg["max_new_tokens"]), strat, seed, eos_id=None, use_cache=True)
                b = generate(model, p, int(cfg["max_new_tokens"]), strat, seed, eos_id=None, use_cache=False)
                first = next((j for j, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), -1)
                diverged += first >= 0 or len(a) != len(b)
                total += 1
                rec.log(i, strategy=name, first_divergence=first, stage="prompts")
        variants = {"mha": {}, "gqa2": {"n_kv_heads": 2}, "mqa": {"n_kv_heads": 1}, "mla16": {"kv_latent": 16}}
        per_token, variant_diverged = {}, 0
        for name, extra in variants.items():
            vm = GPT(model.cfg.__class__(**{**model.cfg.to_dict(), **extra}), seed=int(cfg["seed"])).eval()
            for p in prompts[:3]:
                a = generate(vm, p, 12, Temperature(1.0), 5, use_cache=True)
                b = generate(vm, p, 12, Temperature(1.0), 5, use_cache=False)
                variant_diverged += a != b
            cache = vm.new_cache()
            vm(torch.tensor([prompts[0]]), cache=cache)
            per_token[name] = cache.values_per_token()
            rec.log(len(per_token), variant=name, values_per_token=per_token[name], stage="variants")
    return {
        "checkpoint": ck.key, "decodes": total, "decodes_diverged": diverged, "all_identical": diverged == 0,
        "variant_decodes_diverged": variant_diverged,
        **{f"cache_values_per_token_{k}": v for k, v in per_token.items()},
        "gqa_shrinks_cache": per_token["gqa2"] * 2 == per_token["mha"] and per_token["mqa"] * 4 == per_token["mha"],
    }
