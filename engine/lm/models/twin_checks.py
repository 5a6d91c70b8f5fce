"""The twin contract, checked: NumPy and torch Mini-GPTs give the same logits through one safetensors file.

Phase 17 lab 04 runs these in float64 at the spine's shape. Each check writes through the file
format of engine.lm.models.twin (never an in-memory copy), because the file is what the rest of the
course exchanges: NumPy -> file -> torch, torch -> file -> NumPy, a round trip that must rewrite the
same tensors, and the torch twin's KV-cache decode against its own full forward.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.lm.models import twin
from engine.lm.models.gpt import MiniGPT
from engine.lm.models.gpt_torch import GPT


def file_state(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, as NumPy arrays."""
    from safetensors.numpy import load_file

    return load_file(str(path))


def numpy_to_torch_gap(np_model: MiniGPT, ids: np.ndarray, path: Path,
                       tamper: Callable[[Path], None] | None = None) -> tuple[float, GPT]:
    """Max |logit difference| between the NumPy model and the torch twin loaded from its export, and
    that twin. `tamper(path)` may rewrite the file between export and load (a break's hook)."""
    np_logits = np_model(ids).data
    twin.save_numpy(np_model, path)
    if tamper is not None:
        tamper(path)
    t_model = twin.load_torch(path, dtype=torch.float64)
    t_logits = t_model(torch.from_numpy(ids)).detach().numpy()
    return float(np.abs(np_logits - t_logits).max()), t_model


def torch_to_numpy_gap(t_model: GPT, ids: np.ndarray, path: Path) -> float:
    """Max |logit difference| between a torch model and the NumPy twin loaded from its export."""
    t_logits = t_model(torch.from_numpy(ids)).detach().numpy()
    twin.save_torch(t_model, path)
    n_model = twin.load_numpy(path, dtype=np.float64)
    return float(np.abs(n_model(ids).data - t_logits).max())


def roundtrip_identical(src: Path, dest: Path) -> bool:
    """A NumPy export loaded into torch and saved again holds the same tensor names and bytes."""
    twin.save_torch(twin.load_torch(src, dtype=torch.float64), dest)
    a, b = file_state(src), file_state(dest)
    return sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


def kv_cache_gap(model: GPT, ids: np.ndarray) -> float:
    """Prefill half the sequence, decode the rest one token at a time: max |difference| from the full forward."""
    half = ids.shape[1] // 2
    with torch.no_grad():
        full = model(torch.from_numpy(ids)).numpy()
        cache = model.new_cache()
        parts = [model(torch.from_numpy(ids[:, :half]), cache=cache)]
        for p in range(half, ids.shape[1]):
            parts.append(model(torch.from_numpy(ids[:, p:p + 1]), cache=cache, start_pos=p))
    return float(np.abs(torch.cat(parts, 1).numpy() - full).max())
