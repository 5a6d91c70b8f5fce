"""Phase 17, lab 04: the NumPy Mini-GPT and its torch twin are one model in two frameworks.

The from-scratch model (engine.lm.models.gpt, NumPy autograd) and the torch twin
(engine.lm.models.gpt_torch.GPT) share every parameter name and one safetensors format
(engine.lm.models.twin). Both directions are checked in float64 at the spine's shape (the BPE
vocabulary, context 64): NumPy weights -> file -> torch gives the NumPy logits, torch weights ->
file -> NumPy gives the torch logits, and a round trip through both frameworks rewrites the file
byte for byte. The KV-cache decode of the torch twin is checked against its full forward.

Fault `transposed_attention` (the break): the export forgets that the NumPy twin stores its
attention matrices as x @ W, so the torch twin reads W_q, W_k, W_v, W_o transposed; shapes still
match (d x d), nothing raises, and the logits disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.core import tensorfile
from engine.core.run import Recorder
from engine.lm.models import twin
from engine.lm.models import twin_checks as tc
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, n_params

FAULT = "transposed_attention"


def _cfg(cfg: dict) -> MiniGPTConfig:
    return MiniGPTConfig(d_model=cfg["d_model"], n_heads=cfg["n_heads"], n_layers=cfg["n_layers"], d_ff=cfg["d_ff"],
                         vocab_size=cfg["vocab_size"], context_len=cfg["context_len"])


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _transpose_attention(cfg: MiniGPTConfig) -> Callable[[Path], None]:
    """The break: rewrite the export with W_q, W_k, W_v, W_o transposed (shapes still match)."""
    def tamper(path: Path) -> None:
        state = {k: (v.T.copy() if ".attn.W_" in k else v) for k, v in tc.file_state(path).items()}
        tensorfile.save(state, path, twin.metadata(cfg))
    return tamper


def twins(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    mcfg = _cfg(cfg)
    rng = np.random.default_rng(cfg["seed"])
    ids = rng.integers(0, mcfg.vocab_size, (int(cfg["batch"]), int(cfg["seq_len"])))
    out = Path(rec.out_dir)
    f1, f2, f3 = (out / f"{n}.safetensors" for n in ("numpy_export", "torch_export", "roundtrip"))
    np_model = MiniGPT(mcfg, rng=rng, dtype=np.float64)
    np_to_torch, t_model = tc.numpy_to_torch_gap(np_model, ids, f1,
                                                 _transpose_attention(mcfg) if cfg["fault"] == FAULT else None)
    rec.log(0, stage="numpy->torch", max_abs_diff=np_to_torch)
    t2 = GPT(mcfg, seed=int(cfg["seed"])).double()
    torch_to_np = tc.torch_to_numpy_gap(t2, ids, f2)
    rec.log(1, stage="torch->numpy", max_abs_diff=torch_to_np)
    same_tensors = tc.roundtrip_identical(f1, f3)
    cached = tc.kv_cache_gap(t2, ids)
    for f in (f1, f2, f3):
        rec.artifact(f, "checkpoint")
    names_numpy = {twin.file_name(n) for n, _ in np_model.named_parameters()}
    n_numpy = int(sum(p.numel() for _, p in np_model.named_parameters()))
    return {
        "numpy_to_torch_max_abs": np_to_torch,
        "torch_to_numpy_max_abs": torch_to_np,
        "cached_vs_full_max_abs": cached,
        "roundtrip_tensors_identical": bool(same_tensors),
        "same_parameter_names": names_numpy == set(t_model.state_dict()),
        "n_params_numpy": n_numpy,
        "n_params_torch": n_params(t_model),
        "params_equal": n_numpy == n_params(t_model),
        "file_sha256": _sha(f1)[:16],
    }
