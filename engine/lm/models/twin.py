"""The two Mini-GPT twins share one checkpoint format: safetensors with the torch twin's names.

Why one format: phase 17 builds the model from scratch in NumPy, later phases train and serve the
torch twin; a checkpoint written by either must load into the other and give the same logits.
The file holds exactly the torch twin's state_dict (nn.Linear weights as (out, in)) plus the
MiniGPTConfig as JSON metadata. The NumPy twin's tensors map one to one:

    NumPy name              file name                       layout
    E                       E                               same
    block_i.attn.W_q        block_i.attn.W_q.weight         transposed (NumPy computes x @ W)
    block_i.ffn.w1 / b1     block_i.ffn.w1.weight / .bias   same
    block_i.ln1.weight ...  same                            same

    save_torch(model, path) / load_torch(path) -> GPT
    save_numpy(np_model, path) / load_numpy(path, dtype) -> MiniGPT
    numpy_to_torch(np_model) / torch_to_numpy(model)     in memory, same mapping
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import load_file as torch_load_file

from engine.core import tensorfile
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.models.gpt_torch import GPT

FORMAT = "lynx-minigpt-v1"
_ATTN = ("W_q", "W_k", "W_v", "W_o")


def file_name(numpy_name: str) -> str:
    """The checkpoint (torch) name of a NumPy twin tensor."""
    parts = numpy_name.split(".")
    if len(parts) == 3 and parts[1] == "attn" and parts[2] in _ATTN:
        return numpy_name + ".weight"
    if len(parts) == 3 and parts[1] == "ffn":
        return {"w1": f"{parts[0]}.ffn.w1.weight", "b1": f"{parts[0]}.ffn.w1.bias",
                "w2": f"{parts[0]}.ffn.w2.weight", "b2": f"{parts[0]}.ffn.w2.bias"}[parts[2]]
    return numpy_name


def _transposed(numpy_name: str) -> bool:
    parts = numpy_name.split(".")
    return len(parts) == 3 and parts[1] == "attn" and parts[2] in _ATTN


def numpy_state(np_model: MiniGPT) -> dict[str, np.ndarray]:
    """The NumPy twin's tensors under checkpoint names and layouts."""
    out: dict[str, np.ndarray] = {}
    for name, p in np_model.named_parameters():
        a = np.asarray(p.data)
        out[file_name(name)] = np.ascontiguousarray(a.T if _transposed(name) else a)
    return out


def metadata(cfg: MiniGPTConfig, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"format": FORMAT, "config": json.dumps(cfg.to_dict(), sort_keys=True), **(extra or {})}


def read_config(path: str | Path) -> MiniGPTConfig:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format={meta.get('format')!r})")
    return MiniGPTConfig.from_dict(json.loads(meta["config"]))


def numpy_to_torch(np_model: MiniGPT, dtype: torch.dtype = torch.float32) -> GPT:
    model = GPT(np_model.cfg).to(dtype)
    state = {k: torch.from_numpy(v).to(dtype) for k, v in numpy_state(np_model).items()}
    model.load_state_dict(state, strict=True)
    return model


def torch_to_numpy(model: GPT, dtype: Any = np.float32, cfg: MiniGPTConfig | None = None) -> MiniGPT:
    """`cfg` overrides the shape-free fields (e.g. a longer context_len: RoPE has no learned table)."""
    state = {k: v.detach().cpu().to(torch.float64).numpy() for k, v in model.state_dict().items()}
    return _fill_numpy(cfg or model.cfg, state, dtype)


def _fill_numpy(cfg: MiniGPTConfig, state: dict[str, np.ndarray], dtype: Any) -> MiniGPT:
    np_model = MiniGPT(cfg, dtype=dtype)
    names = [n for n, _ in np_model.named_parameters()]
    missing = sorted({file_name(n) for n in names} - set(state))
    extra = sorted(set(state) - {file_name(n) for n in names})
    if missing or extra:
        raise ValueError(f"checkpoint does not match the NumPy Mini-GPT: missing {missing}, unexpected {extra}")
    for name, p in np_model.named_parameters():
        a = state[file_name(name)]
        a = a.T if _transposed(name) else a
        if a.shape != p.data.shape:
            raise ValueError(f"{name}: checkpoint shape {a.shape} != model shape {p.data.shape}")
        p.data[...] = a.astype(dtype)
    return np_model


def save_torch(model: GPT, path: str | Path, extra: dict[str, str] | None = None) -> Path:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return tensorfile.save(state, path, metadata(model.cfg, extra))


def load_torch(path: str | Path, dtype: torch.dtype = torch.float32) -> GPT:
    cfg = read_config(path)
    model = GPT(cfg).to(dtype)  # cast first: load_state_dict copies into the existing dtype
    model.load_state_dict(torch_load_file(str(path)), strict=True)
    return model


def save_numpy(np_model: MiniGPT, path: str | Path, extra: dict[str, str] | None = None) -> Path:
    return tensorfile.save(numpy_state(np_model), path, metadata(np_model.cfg, extra))


def load_numpy(path: str | Path, dtype: Any = np.float32) -> MiniGPT:
    return _fill_numpy(read_config(path), np_load_file(str(path)), dtype)
