"""Phase 21 labs: greedy decoding, the temperature sweep, top-k/top-p truncation and the
diversity-versus-grammaticality sweep, on the course's model: the phase-18 spine checkpoint as the
NumPy twin with its BPE tokenizer (engine.lm.models.spine_numpy; the quick checkpoint under
--quick, the full one otherwise). Prompts are the bilingual corpus's es->en translation prompts
("es:yo trabajé / en:"), so a completion is an English verb form. Decoding uses no KV cache.

Fault `top_p_one` (the phase's break): lab-03's chosen sampler uses p = 1.0 instead of 0.95.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.infer.sampling import (
    Greedy,
    Temperature,
    TopK,
    TopP,
    entropy_bits,
    post_softmax_power,
    sample,
    sample_batch,
    softmax,
    tempered,
    topk_mask,
    topp_probs,
)
from engine.lm.models import spine_numpy
from engine.lm.text import bilingual as B
from engine.scratch.autograd.tensor import no_grad

FAULT = "top_p_one"
WORKED_LOGITS = [4.2, 1.8, 1.5, 0.6, 0.3, -0.5, -1.2, -2.1, -3.4, -4.0]


EOS = B.EOS
PERSON_FREE = ("infinitive", "past_participle")  # cells whose form does not depend on the person


def _model(cfg: dict, rec: Recorder) -> tuple[Any, Any]:
    """The spine checkpoint and tokenizer, both named in the run's manifest."""
    model, tok, cks = spine_numpy.load(bool(cfg["quick"]))
    spine_numpy.record(rec, cks)
    return model, tok


def _prompt_ids(tok: Any, text: str) -> list[int]:
    """<bos> + the prompt as written ("es:yo trabajé / en:" - the model answers the English side)."""
    return tok.encode(text, bos=True, eos=False)


def _translation_prompt(e: B.Example) -> str:
    return B.translation_prompt(e)  # "es:yo trabajé / en:"


def _forms(tense: str, person: str) -> set[str]:
    """Every correct English form of the cell, over all 20 verbs (the verb truth table)."""
    return {e.english for e in B.examples("all") if e.tense == tense and (tense in PERSON_FREE or e.person == person)}


def _rows_of(prompt: str) -> list[B.Example]:
    """The corpus rows whose translation prompt this is (none for a prompt written by hand)."""
    return [e for e in B.examples("all") if _translation_prompt(e) == prompt]


# ---------------------------------------------------------------------- lab 00: greedy
def _plain_greedy(model: Any, prompt: list[int], max_tokens: int, eos: int) -> list[int]:
    """Greedy decoding written out: argmax of the last row, append, stop at EOS, the limit or max_tokens."""
    tokens, out = list(prompt), []
    with no_grad():
        while len(out) < max_tokens and len(tokens) < model.cfg.context_len:
            nxt = int(np.argmax(model(np.asarray(tokens, dtype=np.int64)).data[-1]))
            out.append(nxt)
            tokens.append(nxt)
            if nxt == eos:
                break
    return out


def greedy_decode(cfg: dict, rec: Recorder) -> dict:
    model, tok = _model(cfg, rec)
    max_tokens, seed = int(cfg["max_tokens"]), int(cfg["seed"])
    out: dict[str, Any] = {}
    outputs = []
    with blas_threads(1):
        for i, text in enumerate(cfg["prompts"]):
            ids = _prompt_ids(tok, text)
            a = sample(model, ids, max_tokens, seed, Greedy(), EOS)
            b = sample(model, ids, max_tokens, seed + 1, Greedy(), EOS)
            with no_grad():
                first = model(np.asarray(ids)).data[-1]
            top5 = [(tok.itos[j], round(float(first[j]), 3)) for j in np.argsort(-first)[:5]]
            completion = tok.decode(a)
            rec.note(f"{text!r} -> {completion!r} ids {a}; first-step top-5 {top5}")
            rec.log(i, stage="greedy", prompt=text, completion=completion, n_tokens=len(a))
            outputs.append((text, a, b, completion))
    out["greedy_deterministic"] = all(a == b for _, a, b, _ in outputs)
    out["greedy_vs_plain_loop_mismatches"] = sum(a != _plain_greedy(model, _prompt_ids(tok, t), max_tokens, EOS)
                                                 for t, a, _, _ in outputs)
    ids = _prompt_ids(tok, cfg["prompts"][0])
    limit = model.cfg.context_len
    out["stops_at_context_limit"] = len(sample(model, ids, 10 * limit, seed, Temperature(5.0))) == limit - len(ids)
    no_eos = sample(model, ids, 8, seed, Temperature(5.0))
    out["max_tokens_respected_without_eos"] = len(no_eos) == min(8, limit - len(ids))
    out["loop_terminates"] = all(len(a) <= max_tokens for _, a, _, _ in outputs)
    out["ended_with_eos"] = all(a and a[-1] == EOS for _, a, _, _ in outputs)
    out["completions"] = {t: c for t, _, _, c in outputs}
    past = [(_rows_of(t), c) for t, _, _, c in outputs if any(e.tense == "past_simple" for e in _rows_of(t))]
    out["past_prompt_gives_past_form"] = bool(past) and all(c in _forms(r[0].tense, r[0].person) for r, c in past)
    out["exact_translations"] = sum(c in {e.english for e in _rows_of(t)} for t, _, _, c in outputs)
    return out


# ---------------------------------------------------------------------- lab 01: temperature
def temperature_sweep(cfg: dict, rec: Recorder) -> dict:
    z = np.asarray(cfg["logits"], dtype=np.float64)
    taus = [float(t) for t in cfg["taus"]]
    model, tok = _model(cfg, rec)
    with no_grad(), blas_threads(1):
        zm = model(np.asarray(_prompt_ids(tok, cfg["model_prompt"]))).data[-1].astype(np.float64)
        zd = model(np.asarray(_prompt_ids(tok, cfg["diversity_prompt"]))).data[-1].astype(np.float64)
    monotone = True
    for source, logits in (("synthetic", z), ("model", zm)):
        h = [entropy_bits(tempered(logits, t)) for t in taus]
        for t, e in zip(taus, h, strict=True):
            rec.log(0, stage="sweep", source=source, tau=t, entropy_bits=e)
        monotone = monotone and bool(np.all(np.diff(h) >= -1e-9))
    # softmax(z)**(1/τ) without renormalising is not a distribution; renormalised it is softmax(z/τ)
    raw_mass = [float((softmax(z) ** (1 / t)).sum()) for t in taus]
    renorm_diff = max(float(np.abs(post_softmax_power(z, t) - tempered(z, t)).max()) for t in taus)
    n = int(cfg["n_seeds"])
    # closed forms: two logits 1 apart give p0 = 1 / (1 + e^(-1/tau)); the spread of 1500 must not underflow at tau 500
    big = max(abs(float(tempered(np.array([1000.0, 999.0]), t)[0]) - 1 / (1 + np.exp(-1 / t))) for t in (0.5, 1.0, 4.0))
    wide = tempered(np.array([0.0, -1500.0]), 500.0)
    big = max(big, abs(float(wide[1]) - 1 / (1 + np.exp(3.0))))
    out: dict[str, Any] = {"tempered_closed_form_max_err": big,
                           "entropy_monotone": monotone, "post_softmax_power_rejected": max(abs(m - 1) for m in raw_mass) > 1e-3,
                           "post_softmax_power_mass_range": [min(raw_mass), max(raw_mass)],
                           "renormalised_power_max_diff": renorm_diff,
                           "entropy_bits_synthetic_tau1": entropy_bits(tempered(z, 1.0))}
    for t in (0.5, 1.0, 2.0):
        firsts = {Temperature(t)(zd, np.random.default_rng(s)) for s in range(n)}
        key = f"unique_tokens_tau_{str(t).replace('.', '_')}"
        out[key] = len(firsts)
        rec.log(0, stage="diversity", tau=t, unique_tokens=len(firsts))
    return out


# ---------------------------------------------------------------------- lab 02: top-k / top-p
def truncation(cfg: dict, rec: Recorder) -> dict:
    n = int(cfg["n_seeds"])
    same_p, same_k = 0, 0
    for s in range(n):
        z = np.random.default_rng(1000 + s).normal(0, 3, 64)
        same_p += int(TopP(1.0)(z, np.random.default_rng(s)) == Temperature(1.0)(z, np.random.default_rng(s)))
        same_k += int(TopK(1)(z, np.random.default_rng(s)) == Greedy()(z, np.random.default_rng(s)))
    out: dict[str, Any] = {"topp1_equals_temp1_seeds": same_p, "topk1_equals_greedy_seeds": same_k}
    # top-p against a brute-force nucleus on shuffled logits: sort by probability, keep the shortest
    # prefix whose mass reaches p, renormalise; and greedy when the largest logit is the last id
    mismatch = 0
    for s in range(50):
        rng = np.random.default_rng(2000 + s)
        z, p = rng.normal(0, 2, 32), float(rng.uniform(0.3, 0.95))
        q = softmax(z)
        order = sorted(range(len(q)), key=lambda i: -q[i])
        kept, mass = [], 0.0
        for i in order:
            kept.append(i)
            mass += q[i]
            if mass >= p - 1e-12:
                break
        ref = np.zeros_like(q)
        ref[kept] = q[kept] / q[kept].sum()
        mismatch += int(not np.allclose(topp_probs(z, p), ref, rtol=0, atol=1e-12))
    out["topp_vs_bruteforce_mismatches"] = mismatch
    last = np.array([0.0, 1.0, -2.0, 5.0])
    out["greedy_last_id_ok"] = Greedy()(last, np.random.default_rng(0)) == 3 and TopK(1)(last, np.random.default_rng(0)) == 3
    for name in ("z_peaked", "z_flat"):
        z = np.asarray(cfg.get(name), dtype=np.float64)
        p0, pk, pp = softmax(z), tempered(topk_mask(z, 2), 1.0), topp_probs(z, 0.9)
        for i in range(len(z)):
            rec.log(i, stage="truncation", distribution=name, token=i, p_original=float(p0[i]),
                    p_topk=float(pk[i]), p_topp=float(pp[i]))
        out[f"{name.split('_')[1]}_topp09_kept"] = int((pp > 0).sum())
        out[f"{name.split('_')[1]}_topk2_kept"] = int((pk > 0).sum())
        out[f"{name.split('_')[1]}_softmax"] = [round(float(x), 4) for x in p0]
    out["flat_topk2_smaller_than_topp09"] = out["flat_topk2_kept"] < out["flat_topp09_kept"]
    w = np.asarray(WORKED_LOGITS)
    for p in (0.5, 0.95, 1.0):
        out[f"worked_topp{str(p).replace('.', '')}_kept"] = int((topp_probs(w, p) > 0).sum())
    out["worked_topp095_top_renormalized"] = float(topp_probs(w, 0.95).max())
    out["worked_p0"] = float(softmax(w)[0])
    # plain: sort softmax(z / tau) descending, keep the shortest prefix whose sum reaches p (0.8 at tau 2: 4 tokens)
    e = np.exp(w / 2.0 - (w / 2.0).max())
    hot = np.sort(e / e.sum())[::-1]
    out["worked_topp08_tau2_kept"] = int((topp_probs(w, 0.8, 2.0) > 0).sum())
    out["worked_topp08_tau2_plain"] = int(np.searchsorted(np.cumsum(hot), 0.8) + 1)
    out["exact_mass_topp08_kept"] = int((topp_probs(np.log([0.5, 0.3, 0.2]), 0.8) > 0).sum())
    return out


# ---------------------------------------------------------------------- lab 03: diversity vs accuracy
CELLS = [("present_simple", "1sg"), ("present_simple", "3sg"), ("past_simple", "1sg"), ("past_simple", "2sg"),
         ("future_will", "1sg"), ("future_will", "3sg"), ("past_participle", "1sg"), ("future_going_to", "3sg"),
         ("infinitive", "1sg"), ("present_simple", "2sg")]


def _cell_rows() -> list[B.Example]:
    """One training row per cell, the verb rotating with the cell (a fixed, seed-free choice)."""
    rows = B.unique_cells(B.examples("train"))
    out = []
    for ci, (tense, person) in enumerate(CELLS):
        cell = [e for e in rows if e.tense == tense and e.person == person]
        out.append(cell[(3 * ci) % len(cell)])
    return out


def _score(model: Any, tok: Any, strategy: Any, n: int, seed: int) -> tuple[float, float, list[str], float]:
    """(grammatical share, distinct share, first sample per cell, exact-translation share) over the cells.

    Grammatical: the completion is a correct English form of the prompt's tense and person for
    any of the corpus's verbs; exact: it is the prompt's own translation.
    """
    ok, div, samples, exact = [], [], [], []
    for ci, e in enumerate(_cell_rows()):
        ids = _prompt_ids(tok, _translation_prompt(e))
        outs = sample_batch(model, ids, n, 16, seed + 7919 * ci, strategy, EOS)
        texts = [" ".join(tok.decode(o).split()) for o in outs]
        truth = _forms(e.tense, e.person)
        ok.append(np.mean([t in truth for t in texts]))
        exact.append(np.mean([t == e.english for t in texts]))
        div.append(len(set(texts)) / len(texts))
        samples.append(texts[0])
    return float(np.mean(ok)), float(np.mean(div)), samples, float(np.mean(exact))


def _greedy_batch_ok(model: Any, tok: Any) -> bool:
    """Under greedy decoding every batched row must be exactly the single greedy completion, cut at its EOS."""
    with blas_threads(1):
        for e in _cell_rows()[2:9:6]:  # a past and an infinitive cell
            ids = _prompt_ids(tok, _translation_prompt(e))
            one = sample(model, ids, 16, 0, Greedy(), EOS)
            if sample_batch(model, ids, 3, 16, 0, Greedy(), EOS) != [one] * 3:
                return False
    return True


def diversity_accuracy(cfg: dict, rec: Recorder) -> dict:
    model, tok = _model(cfg, rec)
    n = int(cfg["completions_per_prompt"])
    seed = int(cfg["seed"])
    taus = [float(t) for t in cfg["taus"]]
    top_ps = [float(p) for p in cfg["top_ps"]]
    grid = cfg["grid"]
    if cfg.get("fault") == FAULT:  # the break compares p = 1.0 / 0.95 / 0.5 only (the sweeps are lab-03's)
        taus, top_ps, grid = [0.7, 2.0], [1.0, 0.95, 0.5], {"taus": [], "top_ps": []}
    results: dict[str, tuple[float, float]] = {}
    with blas_threads(1):
        g_ok, g_div, g_samples, g_exact = _score(model, tok, Greedy(), 1, seed)
        rec.log(0, stage="sweep", config="greedy", grammaticality=g_ok, diversity=0.0)
        for t in taus:
            results[f"tau={t}"] = _score(model, tok, Temperature(t), n, seed)[:2]
            gr, dv = results[f"tau={t}"]
            rec.log(0, stage="tau_sweep", tau=t, grammaticality=gr, diversity=dv)
            rec.log(0, stage="sweep", config=f"tau={t}", grammaticality=gr, diversity=dv)
        for p in top_ps:
            results[f"p={p}"] = _score(model, tok, TopP(p, 1.0), n, seed)[:2]
            rec.log(0, stage="topp_sweep", top_p=p, grammaticality=results[f"p={p}"][0], diversity=results[f"p={p}"][1])
            rec.log(0, stage="sweep", config=f"p={p}", grammaticality=results[f"p={p}"][0], diversity=results[f"p={p}"][1])
        for t in grid["taus"]:
            for p in grid["top_ps"]:
                key = f"tau={float(t)},p={float(p)}"
                results[key] = _score(model, tok, TopP(float(p), float(t)), n, seed)[:2]
                rec.log(0, stage="sweep", config=key, grammaticality=results[key][0], diversity=results[key][1])
        chosen_p = 1.0 if cfg.get("fault") == FAULT else float(cfg["default_top_p"])
        c_ok, c_div, c_samples, _ = _score(model, tok, TopP(chosen_p, 1.0), n, seed)
        ref_ok = c_ok if chosen_p == 0.95 else _score(model, tok, TopP(0.95, 1.0), n, seed)[0]
    rec.note(f"greedy samples per cell: {g_samples}")
    rec.note(f"p = {chosen_p} samples (first per cell): {c_samples}")
    gram = [results[f"tau={t}"][0] for t in taus]
    div = [results[f"tau={t}"][1] for t in taus]
    best = max(results, key=lambda k: results[k][0] + results[k][1])
    return {
        "greedy_grammaticality": g_ok, "greedy_exact_translation": g_exact,
        "cell_prompts": [_translation_prompt(e) for e in _cell_rows()],
        "grammaticality_nonincreasing_in_tau": bool(np.all(np.diff(gram) <= 1e-12)),
        "diversity_nondecreasing_in_tau": bool(np.all(np.diff(div) >= -1e-12)),
        "tau2_grammaticality_below_tau07": results["tau=2.0"][0] < results["tau=0.7"][0],
        "chosen_top_p": chosen_p, "chosen_grammaticality": c_ok, "chosen_diversity": c_div,
        "ccr_drop_vs_greedy": g_ok - c_ok,
        "p095_grammaticality": ref_ok, "ccr_drop_vs_p095": ref_ok - c_ok,
        "grammaticality_by_config": {k: round(v[0], 4) for k, v in results.items()},
        "diversity_by_config": {k: round(v[1], 4) for k, v in results.items()},
        "best_sum_config": best,
        "greedy_batch_rows_equal_greedy_sample": _greedy_batch_ok(model, tok),
    }
