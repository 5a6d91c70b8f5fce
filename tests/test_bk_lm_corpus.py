"""bk-lm's real-text path: a local file through the engine's byte-level BPE (engine.research.bk.corpus.TextCorpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.research.bk.corpus import SHIPPED_TEXT, TextCorpus

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_text_has_a_licence_header_and_round_trips() -> None:
    text = (ROOT / SHIPPED_TEXT).read_text(encoding="utf-8")
    assert "CC0" in text.splitlines()[1]
    for kind in ("byte", "bpe"):
        c = TextCorpus(SHIPPED_TEXT, kind, bpe_vocab_size=400, val_fraction=0.1)
        assert c.tokenizer.decode([int(i) for i in c.train]) + c.tokenizer.decode([int(i) for i in c.val]) == text
        assert c.vocab_size == (256 if kind == "byte" else 400)
        assert c.train.min() >= 0 and c.train.max() < c.vocab_size and c.floor_ppl == 1.0
    byte, bpe = TextCorpus(SHIPPED_TEXT, "byte"), TextCorpus(SHIPPED_TEXT, "bpe", bpe_vocab_size=400)
    assert len(bpe.train) < 0.75 * len(byte.train)  # merges compress the training text
    assert len(byte.val) == len(text.encode()) - len(byte.train)  # bytes: one id per byte, nothing lost


def test_bad_corpus_input_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus_path: no such file 'nope.txt'"):
        TextCorpus("nope.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9 au lait\n" * 20)
    with pytest.raises(ValueError, match="not UTF-8"):
        TextCorpus(str(bad))
    short = tmp_path / "short.txt"
    short.write_text("tiny\n", encoding="utf-8")
    with pytest.raises(ValueError, match="need at least 66"):
        TextCorpus(str(short), min_tokens=66)
    with pytest.raises(ValueError, match="tokenizer"):
        TextCorpus(SHIPPED_TEXT, "words")


def _cfg(**extra: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "experiments" / "bk-lm.yaml").read_text())
    return {**spec["config"], **spec["quick"], "seed": 42, "fault": None, "quick": True, "device": "cpu", **extra}


def test_bk_lm_trains_on_the_shipped_text() -> None:
    from engine.core.run import MemoryRecorder
    from engine.labs import bk_lm

    out = bk_lm.train(_cfg(corpus_path=SHIPPED_TEXT, steps=30, eval_every=15), MemoryRecorder())
    assert out["tokenizer"] == "byte" and out["vocab_size"] == 256 and out["corpus"].endswith("resolvent_notes.txt")
    assert out["resnet_bk_future_leak"] == 0.0
    for name in ("resnet_bk", "transformer"):  # 30 steps: well below uniform (256), near the unigram rate
        assert out[f"{name}_ppl"] < 0.16 * 256 and out[f"{name}_ppl"] < 1.6 * out["unigram_ppl"]


def test_corpus_path_is_settable_from_the_cli_plan() -> None:
    from workbench.content import load_catalog
    from workbench.runner.plan import Options, plan

    (req,) = plan(load_catalog(), "bk-lm", Options(quick=True, sets=[f"corpus_path={SHIPPED_TEXT}", "tokenizer=bpe"]))
    assert req.config["corpus_path"] == SHIPPED_TEXT and req.config["tokenizer"] == "bpe"
