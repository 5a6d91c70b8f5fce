"""engine.lm.eval.spine_eval: phase 20's pair-format probes for the spine, and run_eval on given probes."""

from __future__ import annotations

import numpy as np

from engine.lm.eval import harness as H
from engine.lm.eval import probes as P
from engine.lm.eval import spine_eval as S
from engine.lm.eval.evaluate import run_eval
from engine.lm.text import bilingual as B


class _Bytes:
    """A byte-level tokenizer without `stoi`, like the spine's BPE: ids 3.. are the utf-8 bytes."""

    vocab_size = 259

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]:
        return ([B.BOS] if bos else []) + [b + 3 for b in text.encode("utf-8")] + ([B.EOS] if eos else [])


def test_probes_pair_format_no_training_leak_and_six_categories() -> None:
    core, adv = S.core_probes(), S.adversarial_probes()
    assert len(core) == len(B.unique_cells(B.examples("val"))) and {p.verb for p in core} == set(B.HELDOUT_VERBS)
    assert all(p.prompt.startswith("es:") and p.prompt.endswith(" / en:" + P.BLANK) for p in core + adv)
    assert {p.reason_code for p in adv} == set(P.ADVERSARIAL) and len(adv) >= 20
    train = P.sentence_hashes([r.text for r in S.rows("train")])
    assert P.validate_probes(core + adv, train, set(), check_coverage=False) == []
    # filled, a core probe is its val line: the validator flags it when val hashes are given
    val = P.sentence_hashes([r.text for r in S.rows("val")])
    assert sum("val sentence" in e for e in P.validate_probes(core, train, val, check_coverage=False)) == len(core)
    assert S.probes(7) == S.probes(7) and S.probes(7) != S.probes(8)


def test_distractors_wrong_person_first() -> None:
    cells = B.unique_cells(B.examples("val"))
    e = next(c for c in cells if (c.verb, c.tense, c.person) == ("eat", "present_simple", "3sg"))
    d = S.distractors(e, [c for c in cells if c.verb == "eat"], np.random.default_rng(0))
    assert d[0] == "I eat" and len(set(d)) == 3 and e.english not in d
    for prefix, cands, right, _ in S.grid_items("train"):
        assert prefix.startswith("es:") and cands[0] == right and len(set(cands)) == 4


def test_can_encode_byte_level_and_run_eval_on_given_probes() -> None:
    tok = _Bytes()
    assert H.can_encode(tok, "es:yo comí / en:I ate")
    uniform = lambda ids: np.zeros((*np.asarray(ids).shape, tok.vocab_size))  # noqa: E731
    items = {s: S.grid_items(s) for s in ("train", "val")}
    res = run_eval(uniform, tok, S.rows("train"), S.rows("val"), "u", "0" * 64, "val", probes=S.probes(),
                   items=items, heldout_probes=True)
    assert res["headline"]["model_oov"] == 0 and res["headline"]["n_core"] == len(S.core_probes())
    assert abs(res["headline"]["ppl_val"] - tok.vocab_size) < 1e-6
    assert res["grid_accuracy"]["n"] == len(items["val"])
    assert sum(r["n"] for r in res["adversarial"]["by_category"].values()) == len(S.adversarial_probes())
