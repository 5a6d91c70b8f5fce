"""Phase 13's engine pieces: engine.lm.models.embedding_probe (checks and geometry), engine.lm.train.cbow
(the CBOW loop) and engine.lm.text.streams (the corpus as one token stream)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from engine.lm.models import embedding_probe as P
from engine.lm.models.embeddings import CBOW, Embedding, make_cbow_pairs, nearest, pca_2d
from engine.lm.text import verbs as V
from engine.lm.text.corpus import TENSE_SURFACES
from engine.lm.text.streams import byte_stream
from engine.lm.train.cbow import fit_cbow


def test_lookup_contract_on_a_fresh_table() -> None:
    out = P.lookup_contract(Embedding(12, 3, rng=np.random.default_rng(0)), np.random.default_rng(1))
    assert out["duplicate_id_row_grad"] == out["duplicate_id_row_grad_min"] == 2.0
    assert out["untouched_rows_grad_abs_max"] == 0.0
    assert all(out[k] for k in ("shapes_ok", "lookup_equals_onehot_matmul", "grad_equals_onehot_matmul_grad",
                                "out_of_range_raises", "first_and_last_id_lookup_ok", "float_ids_raise_type_error"))


def test_lookup_timing_rows_and_equality() -> None:
    table = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    logged: list[int] = []
    t = P.lookup_timing(table, np.array([0, 5, 15, 5]), 40, log=lambda step, **_: logged.append(step))
    assert t["same"] and len(t["rows"]) == 20 and logged == [r[0] for r in t["rows"]] == list(range(0, 40, 2))
    assert t["best_lookup_s"] > 0 and t["best_matmul_s"] > 0


def test_spearman_matches_scipy_without_ties() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert P.spearman(a, b + a) == pytest.approx(spearmanr(a, b + a).statistic, abs=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_brute_neighbours_agree_with_nearest(metric: str) -> None:
    table = np.random.default_rng(4).normal(size=(40, 6))
    used = np.arange(3, 40)
    want = [i for i, _ in nearest(table, table[7], 8, metric, {7}, used)]
    assert P.brute_neighbours(table, 7, 8, metric, used) == want


def test_cbow_forward_matches_float64_and_keeps_the_bias() -> None:
    model = CBOW(30, 5, rng=np.random.default_rng(5))
    before = model.b_out.data.copy()
    ctx = np.random.default_rng(6).integers(0, 30, size=(7, 4))
    assert P.cbow_forward_vs_numpy(model, ctx) < 1e-5
    assert np.array_equal(model.b_out.data, before)


def test_form_cosine_contrasts_and_tense_probe_on_planted_geometry() -> None:
    """Forms built as verb + tense directions (+ a language offset): every contrast is positive, the
    probe orders past > infinitive > future on the held-out verbs."""
    rng = np.random.default_rng(7)
    dim = 64
    verb_dir = {v: rng.normal(size=dim) for v in V.VERBS}
    tense_dir = {t: np.zeros(dim) for t in TENSE_SURFACES}
    tense_dir["past_simple"][0], tense_dir["future_will"][0] = 3.0, -3.0
    forms, labels = [], []
    for v in V.VERBS:
        for t in TENSE_SURFACES:
            for lang, off in (("en", 0.0), ("es", 0.3)):
                forms.append(verb_dir[v] + tense_dir[t] + off + 0.01 * rng.normal(size=dim))
                labels.append((v, t, lang, f"{v}-{t}-{lang}"))
    arr = np.array(forms)
    c = P.form_cosine_contrasts(arr, labels)
    assert c["same_verb_minus_other_cosine"] > 0.5 and c["translation_pair_minus_cross_language_cosine"] > 0
    probe = P.tense_probe(arr, labels)
    assert probe["probe_heldout_verbs_ordered"] == 1.0 and probe["probe_infinitive_between"]
    assert probe["probe_past_future_separation"] == pytest.approx(6.0, rel=0.05)
    assert probe["held_out"] == list(V.VERBS[1::2]) and len(probe["projection"]) == len(V.VERBS) * len(TENSE_SURFACES)


def test_pca_vs_covariance_is_zero_for_pca_2d_and_not_for_a_wrong_projection() -> None:
    x = np.random.default_rng(8).normal(size=(60, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    points, explained = pca_2d(x)
    assert P.pca_vs_covariance(x, points, explained) < 1e-10
    assert P.pca_vs_covariance(x, x[:, 2:4], explained) > 0.1


def test_is_verb_piece() -> None:
    assert P.is_verb_piece(" worked") and P.is_verb_piece("trabaj") and not P.is_verb_piece(" the")


def test_byte_stream_decodes_to_the_rows() -> None:
    tok, ids = byte_stream(42)
    assert tok.vocab_size == 256 and ids.max() < 256 and tok.decode(ids[:400].tolist()).count("\n") >= 2


def _cbow_kwargs(**kw: object) -> dict:
    base = {"dim": 8, "window": 2, "lr": 0.5, "momentum": 0.9, "batch_size": 16, "epochs": 6, "seed": 0}
    return {**base, **kw}


def test_fit_cbow_learns_a_cycle_and_is_deterministic() -> None:
    stream = np.tile(np.arange(10), 30)  # every centre is fixed by its context
    model, losses = fit_cbow(stream, 10, **_cbow_kwargs())
    _, again = fit_cbow(stream, 10, **_cbow_kwargs())
    assert losses == again and len(losses) == 7
    assert losses[0] == pytest.approx(np.log(10), abs=0.05) and losses[-1] < 0.2 * losses[0]
    ctx, centre = make_cbow_pairs(stream[:30], 2)
    from engine.scratch.autograd.tensor import no_grad
    with no_grad():
        assert (model(ctx).data.argmax(1) == centre).all()


def test_fit_cbow_first_loss_matches_torch_cross_entropy() -> None:
    stream = np.random.default_rng(9).integers(0, 20, size=200)
    seen: list[float] = []
    _, losses = fit_cbow(stream, 20, **_cbow_kwargs(epochs=0), log=lambda step, **m: seen.append(m["loss"]))
    model = CBOW(20, 8, rng=np.random.default_rng(0))
    ctx, centres = make_cbow_pairs(stream, 2)
    logits = torch.tensor(model(ctx).data, dtype=torch.float64)
    want = float(torch.nn.functional.cross_entropy(logits, torch.tensor(centres)))
    assert losses == seen and losses[0] == pytest.approx(want, rel=1e-5)


def test_fit_cbow_checks_the_vocabulary_unless_silenced() -> None:
    stream = np.random.default_rng(10).integers(0, 8, size=60)
    with pytest.raises(ValueError):
        fit_cbow(stream, 16, **_cbow_kwargs(tied=True, epochs=1), check_vocab=8)
    _, losses = fit_cbow(stream, 16, **_cbow_kwargs(tied=True, epochs=1))
    assert np.isfinite(losses).all()
