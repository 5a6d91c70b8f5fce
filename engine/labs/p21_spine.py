"""Phase 21, lab 04: sampling the bilingual spine model - translation by decoding, and what temperature costs.

The phase-18 spine checkpoint is prompted with "es:<spanish> / en:" and decodes the English side
until <eos>. Greedy decoding is the model's best guess: exact-match accuracy on every cell of the
training verbs and of the held-out ones. Then a stride sample of `n_prompts` training cells is
sampled at each temperature of the sweep (n samples per prompt, seeded): accuracy falls and the number of distinct answers rises as τ grows,
which is the trade phase 21 is about. Decoding uses the KV cache (phase 22 shows it changes nothing).
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.infer.sampling import Greedy, Temperature
from engine.lm.infer.torch_decode import generate
from engine.lm.models import registry
from engine.lm.text import bilingual as B


def _prompt(e: B.Example) -> str:
    return B.translation_prompt(e)  # "es:él trabaja / en:"


def _decode(model: Any, tok: Any, e: B.Example, strategy: Any, seed: int) -> str:
    ids = generate(model, [B.BOS, *tok.encode(_prompt(e))], 16, strategy, seed, eos_id=B.EOS)
    return tok.decode([i for i in ids if i >= tok.n_special])


def translate(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, ck = registry.load("phase-18", quick)
    tok, tok_ck = registry.load("tokenizer", quick)
    registry.record(rec, ck)
    registry.record(rec, tok_ck)
    res: dict[str, Any] = {"checkpoint": ck.key}
    n = int(cfg["n_prompts"])
    with torch_threads(1), torch.no_grad():
        splits = {s: B.unique_cells(B.examples(s)) for s in ("train", "val")}
        for split, rows in splits.items():  # greedy on every cell: a 12-cell stride sample read 0.75 for 0.92
            hits = [_decode(model, tok, e, Greedy(), 0) == e.english for e in rows]
            res[f"greedy_exact_{split}"] = sum(hits) / len(hits)
            rec.log(0, split=split, tau=0.0, accuracy=res[f"greedy_exact_{split}"], stage="greedy")
        rows = splits["train"][:: max(1, len(splits["train"]) // n)][:n]
        accs, distinct = [], []
        for i, tau in enumerate(cfg["taus"]):
            outs = [[_decode(model, tok, e, Temperature(float(tau)), int(cfg["seed"]) * 1000 + 17 * j + k)
                     for k in range(int(cfg["samples"]))] for j, e in enumerate(rows)]
            acc = sum(o == e.english for os_, e in zip(outs, rows, strict=True) for o in os_) / (len(rows) * len(outs[0]))
            dist = sum(len(set(os_)) for os_ in outs) / len(rows)
            accs.append(acc)
            distinct.append(dist)
            rec.log(i, tau=float(tau), accuracy=acc, distinct_per_prompt=dist, stage="sweep")
    res["sweep_accuracy"] = accs
    res["sweep_distinct"] = distinct
    res["accuracy_falls_with_tau"] = accs[-1] < accs[0]
    res["diversity_rises_with_tau"] = distinct[-1] > distinct[0]
    return res
