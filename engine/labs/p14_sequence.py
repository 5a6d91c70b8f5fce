"""Phase 14 labs: corpus as token sequences, the n-gram baseline, RNN/GRU by hand, vanishing gradients.

The models live in engine.lm.models.seq. Fault `no_gate_sigmoid` (the phase's break, lab 03):
the LSTM that lab 03 trains for a few steps uses its input, forget and output gates raw.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._heatmaps import heatmap_grid
from engine.lm.models.seq.data import SPECIALS, SPLITS, SequenceData, build
from engine.lm.models.seq.ngram import NGramLM
from engine.lm.models.seq.rnn import GRU, VanillaRNN
from engine.scratch.autograd.tensor import Tensor

PROMPT = "I work , you work , he"
PROBES = [("I work , you work , he", "works"), ("I worked , you worked , he", "worked"),
          ("I will work , you will work , he", "will")]


def _data(cfg: dict[str, Any]) -> SequenceData:
    return build(int(cfg["corpus_seed"]), str(cfg["tokenization"]),
                 int(cfg["vocab_size"]), bool(cfg["include_mis_conjugated"]))


# ---------------------------------------------------------------------- lab 00
def tokenize_corpus(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: every split as [<bos>] + tokens + [<eos>], with the split and round-trip checks."""
    data = _data(cfg)
    tok = data.tokenizer
    seen: dict[str, set[str]] = {}
    for name, texts in data.texts.items():
        for t in texts:
            seen.setdefault(t, set()).add(name)
    overlap = sum(1 for s in seen.values() if len(s) > 1)
    langs_ok = True
    for name in SPLITS:
        halves = [t.split(" / ", 1) for t in data.texts[name]]
        en_first = {h[0].split()[0] for h in halves if h[0]}
        es_first = {h[1].split()[0] for h in halves if len(h) == 2 and h[1]}
        langs_ok = langs_ok and bool(halves) and all(len(h) == 2 and h[0] and h[1] for h in halves)
        langs_ok = langs_ok and bool(en_first & {"I", "you", "he", "to"}) and bool(es_first & {"yo", "tú", "él", "me", "te", "le"})
    roundtrip = {name: all(tok.decode(ids[1:-1]) == t for ids, t in zip(data.ids[name], data.texts[name], strict=True))
                 for name in SPLITS}
    used = {i for name in SPLITS for ids in data.ids[name] for i in ids}
    out: dict[str, Any] = {
        "tokenization": data.scheme, "vocab_size": tok.vocab_size, "added_special_tokens": list(SPECIALS[:2]),
        "split_row_overlap": overlap, "languages_in_every_split": langs_ok,
        "decode_roundtrip": all(roundtrip.values()), "decode_roundtrip_train": roundtrip["train"],
        "distinct_tokens_used": len(used), "wordlevel_fallback_would_trigger": len(used) > 80,
        "starts_with_bos": all(ids[0] == data.bos for name in SPLITS for ids in data.ids[name]),
        "ends_with_eos": all(ids[-1] == data.eos for name in SPLITS for ids in data.ids[name]),
    }
    for i, name in enumerate(SPLITS):
        n_tok = sum(len(ids) for ids in data.ids[name])
        out[f"{name}_rows"], out[f"{name}_tokens"] = len(data.ids[name]), n_tok
        rec.log(i, stage="splits", split=name, rows=len(data.ids[name]), tokens=n_tok)
    path = rec.out_dir / "dataset.json"
    vocab = [tok.token_str(i) for i in range(tok.vocab_size)]
    path.write_text(json.dumps({"scheme": data.scheme, "bos": data.bos, "eos": data.eos, "vocab": vocab,
                                **{f"{n}_ids": data.ids[n] for n in SPLITS}}, ensure_ascii=False), encoding="utf-8")
    rec.artifact(path, "dataset")
    if hasattr(tok, "save"):
        for p in tok.save(rec.out_dir / "tokenizer").values():
            rec.artifact(p, "tokenizer")
    return out


# ---------------------------------------------------------------------- lab 01
def _smoothing_drill_trigram(alpha: float) -> float:
    """The same drill one order up: context (1, 2) seen 20 times, followed by 3 fourteen times."""
    lm = NGramLM(3, vocab_size=64, alpha=alpha, bos=0)
    lm.fit([[0, 1, 2, 3]] * 14 + [[0, 1, 2, 4]] * 6)
    return math.exp(lm.logp_token([1, 2], 3))


def _smoothing_drill(alpha: float) -> float:
    """(14 + a) / (20 + a * 64) through the real model: context 1 seen 20 times, followed by 2 fourteen times."""
    lm = NGramLM(2, vocab_size=64, alpha=alpha, bos=0)
    lm.fit([[0, 1, 2]] * 14 + [[0, 1, 3]] * 6)
    return math.exp(lm.logp_token([1], 2))


def _complete_word(lm: NGramLM, data: SequenceData, context: list[int], max_tokens: int = 6) -> tuple[str | None, list[str]]:
    """Greedy next word: append the most probable token until a space follows some text (or <eos>).

    An unseen context has the uniform distribution, whose "most probable" token is only the
    lowest id: the answer is then None (no preference), not that token.
    """
    tok = data.tokenizer
    top5 = [tok.token_str(t) for t, _ in lm.next_distribution(context)[:5]]
    if not lm.context_seen(context):
        return None, top5
    ctx, new = list(context), []
    for _ in range(max_tokens):
        t = lm.next_distribution(ctx)[0][0]
        if t == data.eos:
            break
        ctx.append(t)
        new.append(t)
        text = tok.decode(new)
        if data.scheme != "bpe" or len(text.split()) > 1 or (text.strip() and text.endswith(" ")):
            break
    text = tok.decode(new)
    words = text.split()
    return (words[0] if words else ""), top5


def ngram_baseline(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: add-alpha n-grams for n = 1..7, perplexity on train and dev, three conjugation probes."""
    data = _data(cfg)
    alpha = float(cfg["alpha"])
    ns = [int(n) for n in cfg["n_values"]]
    V = data.tokenizer.vocab_size
    out: dict[str, Any] = {"vocab_size": V, "uniform_ppl": float(V), "alpha": alpha}
    models: dict[int, NGramLM] = {}
    for i, n in enumerate(ns):
        lm = NGramLM(n, V, alpha, bos=data.bos).fit(data.ids["train"])
        models[n] = lm
        for split in ("train", "dev"):
            ppl = lm.perplexity(data.ids[split])
            out[f"ppl_{split}_{n}gram"] = ppl
            rec.log(i, stage="sweep", n=n, split=split, ppl=ppl)
        rec.progress(i + 1, len(ns))
    dev = {n: out[f"ppl_dev_{n}gram"] for n in ns}
    best = min(dev, key=lambda n: (dev[n], n))
    out.update({"n_values_fitted": len(ns), "best_n": best, "best_dev_perplexity": dev[best],
                "best_dev_ppl_below_unigram": bool(1 in dev and dev[best] < dev[1]),
                "smoothing_drill": _smoothing_drill(alpha), "smoothing_drill_trigram": _smoothing_drill_trigram(alpha)})
    correct = 0
    for j, (prompt, expected) in enumerate(PROBES):
        ctx = [data.bos, *data.tokenizer.encode(prompt + (" " if data.scheme == "bpe" else ""))]
        for n in (3, 5):
            if n not in models:
                continue
            word, top5 = _complete_word(models[n], data, ctx)
            ok = word == expected
            correct += int(ok and n == 5)
            rec.note(f"{n}-gram | {prompt} ___ -> {word!r} (expected {expected}); top-5 next tokens {top5}; "
                     f"context seen in train: {models[n].context_seen(ctx)}")
            out[f"probe{j}_{n}gram_answer"] = word
            out[f"probe{j}_{n}gram_context_seen"] = models[n].context_seen(ctx)
    out["conjugation_top1_correct"] = correct
    return out


# ---------------------------------------------------------------------- lab 02
def _drill() -> tuple[np.ndarray, np.ndarray]:
    """Theory's two-step example: W_hh = 0.5 I, W_xh x_1 = (1, 0, 1, -1), W_xh x_2 = (0, 1, 1, 1), b = 0."""
    m = VanillaRNN(vocab_size=2, d_embed=2, d_hidden=4, seed=0)
    m.E = np.eye(2)
    m.params = {"W_xh": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 1.0]]), "W_hh": 0.5 * np.eye(4),
                "b_h": np.zeros(4)}
    _, hs = m.forward([0, 1])
    return hs[0], hs[1]


def _step_vs_tensor_path(model: VanillaRNN | GRU, ids: list[int], seed: int) -> float:
    """Largest |difference| between forward()'s hidden states and the same cell run through engine Tensors.

    The biases are drawn non-zero first (the lab's own models start at zero), so a dropped bias shows;
    `step_tensor` writes the cell's equations a second, independent time.
    """
    rng = np.random.default_rng(seed)
    model.params = {k: (rng.normal(0.0, 0.5, v.shape) if k.startswith("b_") else v) for k, v in model.params.items()}
    _, hs = model.forward(ids)
    p = {k: Tensor(v) for k, v in model.params.items()}
    h = Tensor(np.zeros(model.d_hidden))
    worst = 0.0
    for t, tok in enumerate(ids):
        h = model.step_tensor(Tensor(model.E[int(tok)]), h, p)
        worst = max(worst, float(np.abs(h.data - hs[t]).max()))
    return worst


def rnn_forward(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: the drill, then a vanilla RNN and a GRU run forward over the canonical prompt, every state shown."""
    h1, h2 = _drill()
    out: dict[str, Any] = {
        "drill_h1_max_abs_diff": float(np.abs(h1 - [0.76, 0.0, 0.76, -0.76]).max()),
        "drill_h2_max_abs_diff": float(np.abs(h2 - [0.36, 0.76, 0.88, 0.55]).max()),
        "drill_h2": [round(float(v), 4) for v in h2],
    }
    data = _data(cfg)
    tok = data.tokenizer
    ids = [data.bos, *tok.encode(str(cfg["prompt"]))]
    labels = [tok.token_str(i) for i in ids]
    de, dh, std, seed = int(cfg["d_embed"]), int(cfg["d_hidden"]), float(cfg["init_std"]), int(cfg["seed"])
    panels = []
    finite = True
    for model in (VanillaRNN(tok.vocab_size, de, dh, seed, std), GRU(tok.vocab_size, de, dh, seed, std)):
        name = type(model).__name__
        logits, hs = model.forward(ids)
        finite = finite and bool(np.isfinite(hs).all() and np.isfinite(logits).all())
        for t, (label, h) in enumerate(zip(labels, hs, strict=True)):
            x = model.trace["x"][t]
            rec.log(t, stage="walkthrough", model=name, t=t, h_norm=float(np.linalg.norm(h)))
            rec.note(f"{name} t={t} token={label!r} x[:4]={np.round(x[:4], 3).tolist()} "
                     f"h[:4]={np.round(h[:4], 3).tolist()} |h|={np.linalg.norm(h):.4f}")
        top = np.argsort(-logits, kind="stable")[:5]
        rec.note(f"{name} top-5 next tokens: {[(tok.token_str(int(i)), round(float(logits[i]), 4)) for i in top]}")
        out[f"{name.lower()}_final_h_norm"] = float(np.linalg.norm(hs[-1]))
        out[f"{name.lower()}_top1"] = tok.token_str(int(top[0]))
        panels.append((f"{name}: hidden state (time x unit)", hs))
        if isinstance(model, GRU):
            z = np.array([c["z"] for c in model.trace["caches"]])
            out["gru_update_gate_mean"] = float(z.mean())
            out["gru_update_gate_min"], out["gru_update_gate_max"] = float(z.min()), float(z.max())
    out["hidden_states_finite"] = finite
    out["steps"] = len(ids)
    out["step_vs_tensor_path_max_diff"] = max(
        _step_vs_tensor_path(cls(tok.vocab_size, de, dh, seed, 0.5), ids, seed) for cls in (VanillaRNN, GRU))
    # the theory's parameter counts at |V| = 64 (the embedding table not counted)
    out["rnn_params_v64"] = VanillaRNN(64, de, dh).num_parameters()
    gru = GRU(64, de, dh)
    out["gru_gate_weight_params"] = int(sum(v.size for k, v in gru.params.items() if not k.startswith("b_")))
    png = heatmap_grid(panels, rec.out_dir / "hidden_state_evolution.png", ncols=2, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
    rec.artifact(png, "chart")
    return out


# ---------------------------------------------------------------------- lab 03
def _decay_orders_per_10(norms: np.ndarray) -> float:
    """Least-squares slope of log10 g_t against t, times 10: orders of magnitude lost per 10 steps back."""
    t = np.arange(len(norms))
    return float(10 * np.polyfit(t, np.log10(np.maximum(norms, np.finfo(float).tiny)), 1)[0])


def _train_lstm(cfg: dict[str, Any], rec: Recorder, seq: np.ndarray, vocab: int) -> dict[str, Any]:
    """A few Adam steps of a small LSTM LM on the repeated prompt (engine.lm.train.lstm: stops at the first
    non-finite loss, gradient or cell state); non-finite values are logged as 1e308."""
    from engine.lm.models.seq.lstm import LSTM
    from engine.lm.train.lstm import fit_lstm
    from engine.scratch.optim import Adam

    raw = cfg.get("fault") == "no_gate_sigmoid"
    model = LSTM(vocab, int(cfg["d_embed"]), int(cfg["d_hidden"]), int(cfg["seed"]),
                 float(cfg["init_std"]), gate_sigmoid=not raw)

    def log(step: int, *, loss: float, cell_max: float, grad_norm: float, forget_max: float, ok: bool) -> None:
        rec.log(step, stage="lstm", lstm_step=step, loss=loss if ok else 1e308, cell_max=min(cell_max, 1e308),
                grad_norm=min(grad_norm, 1e308) if math.isfinite(grad_norm) else 1e308,
                forget_max=forget_max if math.isfinite(forget_max) else 1e308)

    fit = fit_lstm(model, Adam(model.parameters(), lr=float(cfg["lstm_lr"])), seq, int(cfg["lstm_steps"]), log=log)
    first_bad = fit["first_nonfinite_step"]
    return {"lstm_gates": "raw" if raw else "sigmoid", "first_nonfinite_step": first_bad, "lstm_stayed_finite": first_bad is None,
            "lstm_cell_max": fit["cell_max"], "lstm_finite_cell_max": fit["finite_cell_max"],
            "lstm_cell_max_over_T": fit["cell_max"] / (len(seq) - 1),
            "lstm_final_loss": fit["final_loss"] if first_bad is None else None}


def vanishing_gradient(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: dL/dh_t for t = 0..T-1 by hand-written BPTT (checked against autograd), RNN vs GRU; the LSTM break."""
    data = _data(cfg)
    tok = data.tokenizer
    T = int(cfg["sequence_length"])
    chain = tok.encode(str(cfg["chain_unit"]))
    seq = np.array((chain * (T // len(chain) + 2))[:T + 1])
    de, dh, seed = int(cfg["d_embed"]), int(cfg["d_hidden"]), int(cfg["seed"])
    std = float(cfg["init_scale_w_hh"])
    gated = GRU(tok.vocab_size, de, dh, seed, std)
    gated.params["b_z"][:] = float(cfg["gru_keep_bias"])
    models = {"rnn": VanillaRNN(tok.vocab_size, de, dh, seed, std), "gru": GRU(tok.vocab_size, de, dh, seed, std),
              "gru_keep_bias": gated}
    out: dict[str, Any] = {"sequence_length": T}
    autograd_err = 0.0
    for name, model in models.items():
        loss, grads = model.bptt(seq[:T], int(seq[T]))
        _, ref = model.autograd_bptt(seq[:T], int(seq[T]))
        autograd_err = max(autograd_err, float((np.abs(grads - ref) / (np.abs(ref) + 1e-300)).max()))
        norms = np.linalg.norm(grads, axis=1)
        for t, g in enumerate(norms):
            rec.log(t, stage="bptt", model=name, t=t, grad_norm=float(max(g, np.finfo(float).tiny)))
        out[f"{name}_decay_orders_per_10"] = _decay_orders_per_10(norms)
        out[f"{name}_first_over_last_grad"] = float(norms[0] / norms[-1])
        out[f"{name}_loss"] = loss
        if name != "rnn":
            z = np.array([c["z"] for c in model.trace["caches"]])
            out[f"{name}_update_gate_mean"] = float(z.mean())
    out["rnn_spectral_radius_w_hh"] = float(np.abs(np.linalg.eigvals(models["rnn"].recurrent_matrix())).max())
    out["rnn_minus_gru_decay_orders_per_10"] = out["rnn_decay_orders_per_10"] - out["gru_decay_orders_per_10"]
    out["rnn_minus_gated_gru_decay_orders_per_10"] = out["rnn_decay_orders_per_10"] - out["gru_keep_bias_decay_orders_per_10"]
    out["bptt_matches_autograd_max_rel_err"] = autograd_err
    out.update(_train_lstm(cfg, rec, seq, tok.vocab_size))
    return out
