"""Phase 30 labs: logit masks that make the course's model emit digits and schema-valid JSON.

The model is the phase-28 grammar tutor (LoRA on the phase-18 spine) from the model cache, with
the spine's byte-level BPE vocabulary (engine.apps.structured.course_model); each run's manifest
names its checkpoints. The tutor never read JSON: the vocabulary has JSON tokens (`{"verb":"`,
`","tense":"`, ...) whose embedding rows kept their random values, so unconstrained decoding
almost never produces a document and the mask, walking every multi-byte token through the
automaton, is what guarantees the shape. Content correctness is logged, never asserted here;
lab 04 (engine.labs.p30_json_tutor) is the same tutor fine-tuned on JSON, where it is.
"""

from __future__ import annotations

import gc
import io
import json
import re
from typing import Any

import numpy as np

from engine.apps.structured import course_model as CM
from engine.apps.structured import regex as R
from engine.apps.structured.cli import conjugate_structured, main, response_mask
from engine.apps.structured.decode import generate, next_logits
from engine.apps.structured.mask import DigitMask, JSONSchemaMask, NoLegalContinuation, PermissiveMask, RegexMask
from engine.apps.structured.schema import TENSE_FROM_PROJECT, conjugation_schema, validate
from engine.apps.structured.vocab import MaskVocab
from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.eval import probes as P
from engine.lm.text.bilingual import json_prompt

OUTSIDE_ALPHABET = "\u0100"  # the masks read one character per byte (latin-1), so no token holds U+0100


def _model(cfg: dict, rec: Recorder) -> tuple[Any, MaskVocab]:
    """The phase-28 tutor and its BPE mask vocabulary; the manifest names the checkpoints."""
    cm = CM.load(bool(cfg["quick"]))
    CM.record(rec, cm, bool(cfg["quick"]))
    return cm.lm, cm.vocab


# ---------------------------------------------------------------------- lab 00: digit mask
def digit_mask(cfg: dict, rec: Recorder) -> dict:
    model, tok = _model(cfg, rec)
    n, length, seed = int(cfg["n_samples"]), int(cfg["length"]), int(cfg["seed"])
    pattern = re.compile(rf"^\d{{{length}}}$")
    prompt = tok.encode("the year is ")
    mask = DigitMask(tok, length)
    masked, free, kl0 = [], [], []
    with torch_threads(1):
        for i in range(n):
            g = generate(model, tok, prompt, np.random.default_rng(seed + i), mask=mask, max_new_tokens=length + 2)
            masked.append(g.text)
            kl0.append(g.kl[0])
            f = generate(model, tok, prompt, np.random.default_rng(seed + i), max_new_tokens=length + 2)
            free.append(f.text)
            rec.log(i, sample=i, masked_ok=bool(pattern.match(g.text)), free_ok=bool(pattern.match(f.text)))
            rec.progress(i + 1, n)
        same = all(generate(model, tok, prompt, np.random.default_rng(seed + i), mask=PermissiveMask(tok.vocab_size),
                            max_new_tokens=length + 2).ids
                   == generate(model, tok, prompt, np.random.default_rng(seed + i), max_new_tokens=length + 2).ids
                   for i in range(min(n, 10)))
        try:
            RegexMask(tok, R.lit(OUTSIDE_ALPHABET)).step(None)  # no token of the vocabulary starts it
            raises = False
        except NoLegalContinuation:
            raises = True
    # derivative matching on hand cases: an optional head, a bounded repeat, a required repeat
    hand = [(R.seq(R.rep(R.lit("a"), 0, 1), R.lit("b")), "b", True), (R.seq(R.rep(R.lit("a"), 0, 1), R.lit("b")), "ab", True),
            (R.rep(R.chars("0123456789"), 2, 3), "1234", False), (R.rep(R.chars("0123456789"), 2, 3), "123", True),
            (R.rep(R.lit("x"), 1, None), "", False), (R.seq(R.lit("ab"), R.lit("c")), "abc", True)]
    return {"regex_hand_case_failures": sum(R.matches(r, s) != want for r, s, want in hand),
            "n_samples": n, "all_match_regex": all(pattern.match(s) for s in masked),
            "masked_match_rate": float(np.mean([bool(pattern.match(s)) for s in masked])),
            "free_match_rate": float(np.mean([bool(pattern.match(s)) for s in free])),
            "permissive_mask_is_noop": bool(same), "empty_legal_set_raises": raises,
            "kl_step0_nats": float(np.mean(kl0)), "examples": masked[:5], "free_examples": free[:5]}


# ---------------------------------------------------------------------- lab 01: JSON-schema mask
def _probe_sentences(n: int) -> list[P.Probe]:
    core, _ = P.generate(42)
    return core[:n]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def schema_mask(cfg: dict, rec: Recorder) -> dict:
    model, tok = _model(cfg, rec)
    schema = conjugation_schema()
    mask = response_mask(tok, schema)
    probes = _probe_sentences(int(cfg["n_probes"]))
    parsed = valid = fields_right = free_parsed = 0
    kl_by_step: dict[int, list[float]] = {}
    outputs = []
    with torch_threads(1):
        for k, pr in enumerate(probes):
            sentence = pr.prompt.replace(P.BLANK, pr.expected)
            prompt = tok.encode(json_prompt(sentence))
            g = generate(model, tok, prompt, np.random.default_rng(int(cfg["seed"]) + k), mask=mask,
                         temperature=float(cfg["temperature"]), max_new_tokens=int(cfg["max_new_tokens"]))
            for s, v in enumerate(g.kl):
                kl_by_step.setdefault(s, []).append(v)
            try:
                doc = json.loads(g.text)
                parsed += 1
                ok = not validate(doc, schema)
                valid += ok
                fields_right += ok and doc["verb"] == pr.verb and doc["tense"] == TENSE_FROM_PROJECT[pr.tense] \
                    and doc["person"] == pr.person
            except json.JSONDecodeError:
                pass
            outputs.append(g.text)
            f = generate(model, tok, prompt, np.random.default_rng(int(cfg["seed"]) + k),
                         temperature=float(cfg["temperature"]), max_new_tokens=int(cfg["max_new_tokens"]))
            free_parsed += _parses(f.text)
            rec.progress(k + 1, len(probes))
    for s in sorted(kl_by_step):
        rec.log(s, kl_nats=float(np.mean(kl_by_step[s])))
    n = len(probes)
    rec.note(f"first output: {outputs[0]}")
    good = {"verb": "go", "tense": "past_simple", "person": "3sg"}
    bad_docs = [{"verb": "go", "tense": "past_simple"}, {**good, "mood": "x"}, {**good, "tense": "pluperfect"}]
    validator_ok = sum(bool(validate(d, schema)) for d in bad_docs) == len(bad_docs)
    return {"validator_rejects_bad_docs": validator_ok,
            "n_samples": n, "n_parsed_ok": parsed, "n_schema_valid": valid, "parse_rate": parsed / n,
            "schema_valid_rate": valid / n, "parse_failures": n - parsed, "free_parse_rate": free_parsed / n, "content_accuracy": fields_right / n,
            "kl_per_step_avg": float(np.mean([v for vs in kl_by_step.values() for v in vs])),
            "automaton_states_seen": len(mask.table), "examples": outputs[:3]}


# ---------------------------------------------------------------------- lab 02: CLI + break
SENTENCES = ("I want to work tomorrow.", "She plays the piano every Sunday.", "He listened to the radio.",
             "She wrote a long letter.", "I will study tomorrow.")


def structured_cli(cfg: dict, rec: Recorder) -> dict:
    cm = CM.load(bool(cfg["quick"]))
    CM.record(rec, cm, bool(cfg["quick"]))
    free = cfg.get("fault") == "no_mask"
    argv_extra = ["--free"] if free else []
    valid = 0
    outputs = []
    with torch_threads(1):
        for i, s in enumerate(SENTENCES):
            out, err = io.StringIO(), io.StringIO()
            code = main([s, "--seed", str(cfg["seed"]), *argv_extra], stdout=out, stderr=err, model=cm)
            valid += code == 0 and not validate(json.loads(out.getvalue()), conjugation_schema())
            outputs.append(out.getvalue().strip() or err.getvalue().strip()[:120])
            rec.log(i, sentence=i, exit_code=code)
        err = io.StringIO()
        empty_code = main([], stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err, model=cm)
        n = int(cfg["n_samples"])
        failures = {"parse": 0, "schema": 0}
        for k in range(n):
            text, doc, msg = conjugate_structured(cm, SENTENCES[k % len(SENTENCES)], seed=int(cfg["seed"]) + k,
                                                  temperature=float(cfg["temperature"]), free=free)
            if msg.startswith("parse error"):
                failures["parse"] += 1
            elif doc is None:
                failures["schema"] += 1
            rec.progress(k + 1, n)
    for kind, count in failures.items():
        rec.log(0, failure=kind, count=count)
    return {"sample_sentences_valid": valid, "empty_input_exit_nonzero": empty_code != 0, "outputs": outputs,
            "n_samples": n, "parse_failure_rate": failures["parse"] / n, "schema_failure_rate": failures["schema"] / n,
            "mode": "freeform" if free else "masked"}


# ---------------------------------------------------------------------- lab 03: overhead
def _timed_run(model: Any, tok: MaskVocab, mask: Any, tokens: int, seed: int) -> dict[str, float]:
    g = generate(model, tok, tok.encode("she wrote a long letter "), np.random.default_rng(seed), mask=mask,
                 max_new_tokens=tokens, ignore_eos=mask is None)
    steps = max(len(g.ids), 1)
    return {k: v / steps * 1e3 for k, v in g.timings.items()} | {"steps": steps}


def mask_overhead(cfg: dict, rec: Recorder) -> dict:
    model, tok = _model(cfg, rec)
    runs, tokens = int(cfg["runs"]), int(cfg["tokens"])
    schema = conjugation_schema()
    variants = {"no_mask": lambda: None,
                "mask_precompiled": lambda: JSONSchemaMask(tok, schema, precompiled=True),
                "mask_rederived": lambda: JSONSchemaMask(tok, schema, precompiled=False)}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        with torch_threads(1):
            next_logits(model, [1, 2, 3])  # warm-up
            masks = {name: make() for name, make in variants.items()}  # the precompiled table fills in run 0
            per: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for r in range(runs + 1):  # interleaved, so a change in machine load hits every variant alike
                for name, mask in masks.items():
                    t = _timed_run(model, tok, mask, tokens, int(cfg["seed"]) + r)
                    if r:
                        per[name].append(t)
            rows = {name: {k: float(np.median([p[k] for p in ps])) for k in ps[0]} for name, ps in per.items()}
    finally:
        if gc_was:
            gc.enable()
    for i, (name, r) in enumerate(rows.items()):
        total = r["model"] + r["mask"] + r["sample"]
        rec.log(i, variant=name, ms_per_step=total, ms_model=r["model"], ms_mask=r["mask"], ms_sample=r["sample"])
    tot = {k: r["model"] + r["mask"] + r["sample"] for k, r in rows.items()}
    return {"vocab_size": tok.vocab_size, "per_step_ms_no_mask": tot["no_mask"],
            "per_step_ms_with_mask": tot["mask_precompiled"], "per_step_ms_rederived": tot["mask_rederived"],
            "overhead_ratio": tot["mask_precompiled"] / tot["no_mask"],
            "overhead_ratio_rederived": tot["mask_rederived"] / tot["no_mask"],
            "mask_share_rederived": rows["mask_rederived"]["mask"] / tot["mask_rederived"],
            "mask_share_precompiled": rows["mask_precompiled"]["mask"] / tot["mask_precompiled"],
            **{f"builds_per_state_{name.removeprefix('mask_')}": m.builds / max(len(m.visited), 1)
               for name, m in masks.items() if m is not None}}

