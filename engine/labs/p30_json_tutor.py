"""Phase 30, lab 04: the course's model taught JSON, decoded with and without the schema mask.

The model is the "phase-30" stage of the model cache (engine.apps.structured.tutor): the phase-28
tutor (LoRA on the phase-18 base, folded in) with a second LoRA adapter, plus the embedding rows
of the JSON tokens the base never read, trained on "json: <sentence> =>" ->
' {"verb":...,"tense":...,"person":...,"spanish":...}' pairs from the verb table
(engine.apps.structured.tutor_data). The test sentences are the stage's held-out split: no test
sentence's text was trained on, and the tails in TEST_ONLY_TAILS never occur in training.

Each test sentence is answered twice with greedy decoding, same model: under the conjugation
schema's grammar mask (engine.apps.structured.tutor.response_mask) and free. Reported for both:
parse rate, schema-valid rate, content accuracy (verb, tense and person right) and the Spanish
field's accuracy, on all test sentences and on the held-out-tail slice. The manifest names the
checkpoint (and its parents) used.

Fault `untuned` (a control, not a break of the YAML): the same decoding on the phase-28 tutor
without the JSON adapter - the mask still makes every answer valid, but content falls.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.apps.structured import tutor as ST
from engine.apps.structured import tutor_data as D
from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.labs._subset import every_kth
from engine.lm.models import registry

FAULT = "untuned"


def json_tutor(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, vocab, ck = ST.tutor_json(quick)
    registry.record_lineage(rec, ck, quick)
    if cfg.get("fault") == FAULT:
        model = ST._base(quick).eval()
    stage = ST.QUICK if quick else ST.FULL
    train, test = D.split(float(stage["test_fraction"]), str(stage["salt"]))
    tails = D.held_out_tails(train, test)
    items = every_kth(test, int(cfg["n_test"]))
    tail_set = {s.sentence for s in every_kth(tails, int(cfg["n_tails"]))}
    items += [s for s in tails if s.sentence in tail_set and s not in items]
    mask = ST.response_mask(vocab)
    docs: dict[str, list[Any]] = {"constrained": [], "free": []}
    with torch_threads(1), torch.no_grad():
        for k, it in enumerate(items):
            for variant in docs:
                text, doc, _ = ST.answer(model, vocab, it.sentence, mask=mask if variant == "constrained" else None,
                                         max_new_tokens=int(cfg["max_new_tokens"]))
                docs[variant].append(doc)
                if k < 3:
                    rec.note(f"{variant}: {it.sentence!r} -> {text!r}")
            rec.progress(k + 1, len(items))
    res: dict[str, Any] = {"checkpoint": ck.key, "adapter": ST.adapter_record(ck)["adapter_hash"],
                           "n_test": len(items), "n_train_sentences": len(train),
                           "test_sentences_in_train": sum(s.sentence in {t.sentence for t in train} for s in items)}
    is_tail = [it.sentence in tail_set for it in items]
    for variant, ds in docs.items():
        s = ST.score(ds, items)
        st = ST.score([d for d, t in zip(ds, is_tail, strict=True) if t],
                      [i for i, t in zip(items, is_tail, strict=True) if t])
        for name, v in s.items():
            res[f"{name}_{variant}"] = v
        res[f"content_accuracy_tails_{variant}"] = st["content_accuracy"]
        rec.log(0, variant=variant, schema_valid_rate=s["schema_valid_rate"], content_accuracy=s["content_accuracy"],
                spanish_accuracy=s["spanish_accuracy"])
    res["n_tails"] = sum(is_tail)
    res["content_target"] = float(cfg["content_target"])
    res["meets_content_target"] = res["content_accuracy_constrained"] >= res["content_target"]
    res["mask_not_worse"] = res["content_accuracy_constrained"] >= res["content_accuracy_free"]
    return res
