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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.run import Recorder
from engine.lm.models import twin
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, n_params

FAULT = "transposed_attention"


def _cfg(cfg: dict) -> MiniGPTConfig:
    return MiniGPTConfig(d_model=cfg["d_model"], n_heads=cfg["n_heads"], n_layers=cfg["n_layers"], d_ff=cfg["d_ff"],
                         vocab_size=cfg["vocab_size"], context_len=cfg["context_len"])


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _file_state(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def twins(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    mcfg = _cfg(cfg)
    rng = np.random.default_rng(cfg["seed"])
    ids = rng.integers(0, mcfg.vocab_size, (int(cfg["batch"]), int(cfg["seq_len"])))
    out = Path(rec.out_dir)

    # NumPy -> safetensors -> torch
    np_model = MiniGPT(mcfg, rng=rng, dtype=np.float64)
    np_logits = np_model(ids).data
    f1 = twin.save_numpy(np_model, out / "numpy_export.safetensors")
    if cfg["fault"] == FAULT:
        from safetensors.numpy import save_file

        state = {k: (v.T.copy() if ".attn.W_" in k else v) for k, v in _file_state(f1).items()}
        save_file(state, str(f1), metadata=twin.metadata(mcfg))
    t_model = twin.load_torch(f1, dtype=torch.float64)
    t_logits = t_model(torch.from_numpy(ids)).detach().numpy()
    np_to_torch = float(np.abs(np_logits - t_logits).max())
    rec.log(0, stage="numpy->torch", max_abs_diff=np_to_torch)

    # torch -> safetensors -> NumPy
    t2 = GPT(mcfg, seed=int(cfg["seed"])).double()
    t2_logits = t2(torch.from_numpy(ids)).detach().numpy()
    f2 = twin.save_torch(t2, out / "torch_export.safetensors")
    n2 = twin.load_numpy(f2, dtype=np.float64)
    torch_to_np = float(np.abs(n2(ids).data - t2_logits).max())
    rec.log(1, stage="torch->numpy", max_abs_diff=torch_to_np)

    # the round trip rewrites the same tensors: NumPy file -> torch -> file
    f3 = twin.save_torch(twin.load_torch(f1, dtype=torch.float64), out / "roundtrip.safetensors")
    a, b = _file_state(f1), _file_state(f3)
    same_tensors = sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)

    # KV cache of the torch twin: prefill half, decode the rest one token at a time
    half = ids.shape[1] // 2
    with torch.no_grad():
        cache = t2.new_cache()
        parts = [t2(torch.from_numpy(ids[:, :half]), cache=cache)]
        for p in range(half, ids.shape[1]):
            parts.append(t2(torch.from_numpy(ids[:, p:p + 1]), cache=cache, start_pos=p))
    cached = float(np.abs(torch.cat(parts, 1).numpy() - t2_logits).max())

    for f in (f1, f2, f3):
        rec.artifact(f, "checkpoint")
    names_numpy = {twin.file_name(n) for n, _ in np_model.named_parameters()}
    return {
        "numpy_to_torch_max_abs": np_to_torch,
        "torch_to_numpy_max_abs": torch_to_np,
        "cached_vs_full_max_abs": cached,
        "roundtrip_tensors_identical": bool(same_tensors),
        "same_parameter_names": names_numpy == set(t_model.state_dict()),
        "n_params_numpy": int(sum(p.numel() for _, p in np_model.named_parameters())),
        "n_params_torch": n_params(t_model),
        "params_equal": int(sum(p.numel() for _, p in np_model.named_parameters())) == n_params(t_model),
        "file_sha256": _sha(f1)[:16],
    }
