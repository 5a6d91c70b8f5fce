"""engine.lm.models.spine_numpy: the trained phase-18 spine as the NumPy twin gives the torch twin's logits,
its tokenizer wrapper round-trips bilingual lines, and `record` names both checkpoints in the manifest."""

from __future__ import annotations

import numpy as np
import torch

from engine.core.run import MemoryRecorder
from engine.core.threads import torch_threads
from engine.lm.models import registry, spine_numpy


def test_numpy_spine_matches_the_torch_checkpoint() -> None:
    model, tok, cks = spine_numpy.load(quick=True, dtype=np.float64)
    torch_model, ck = registry.load("phase-18", quick=True)
    assert cks[0].key == ck.key and [c.name for c in cks] == ["phase-18", "tokenizer"]
    ids = np.array([tok.encode("es:yo trabajo / en:I work", bos=True, eos=True)])
    with torch_threads(1), torch.no_grad():
        want = torch_model.double()(torch.from_numpy(ids)).numpy()
    torch_model.float()  # the registry memoises this object: leave it as loaded
    assert np.abs(model(ids).data - want).max() < 1e-9


def test_longer_context_changes_no_logits_on_a_short_input() -> None:
    short, tok, _ = spine_numpy.load(quick=True, dtype=np.float64)
    long, _, _ = spine_numpy.load(quick=True, dtype=np.float64, context_len=short.cfg.context_len * 2)
    assert long.cfg.context_len == 2 * short.cfg.context_len
    ids = np.array([tok.encode("es:ella come / en:", bos=True, eos=False)])
    assert np.abs(long(ids).data - short(ids).data).max() < 1e-12


def test_tokenizer_round_trip_and_specials() -> None:
    _, tok, _ = spine_numpy.load(quick=True)
    line = "es:nosotros vivimos / en:we live"
    ids = tok.encode(line, bos=True, eos=True)
    assert ids[0] == spine_numpy.BOS and ids[-1] == spine_numpy.EOS
    assert tok.decode(ids) == line
    assert len(tok.itos) == tok.vocab_size and tok.itos[spine_numpy.BOS] != tok.itos[spine_numpy.EOS]


def test_record_names_both_checkpoints() -> None:
    _, _, cks = spine_numpy.load(quick=True)
    rec = MemoryRecorder()
    name = spine_numpy.record(rec, cks)
    assert name == f"phase-18-quick-{cks[0].key}"
    assert [c["name"] for c in rec.checkpoints] == ["phase-18", "tokenizer"]
    assert all(c["sha256"] for c in rec.checkpoints)
