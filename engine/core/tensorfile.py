"""safetensors files whose bytes depend only on the tensors and the metadata.

The safetensors library keeps a file's `__metadata__` in a Rust HashMap, whose iteration order is
seeded afresh in every process: two processes saving the same tensors with two or more metadata
keys write the keys in different orders, so the file's sha256 (recorded in every run manifest and
compared by reproducibility checks) changes from run to run. `dumps` serialises with the library,
then rewrites the JSON header with the metadata keys sorted; the tensor entries and their order
are the library's own, the header keeps its length, so every data offset stays valid. `save`
writes those bytes atomically (engine.core.atomic). numpy arrays or torch tensors, not mixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.core.atomic import write_bytes


def _serialize(tensors: Mapping[str, Any], metadata: dict[str, str] | None) -> bytes:
    if any(type(t).__module__.startswith("torch") for t in tensors.values()):
        from safetensors.torch import save as torch_save

        return torch_save(dict(tensors), metadata=metadata)
    from safetensors.numpy import save as np_save

    return np_save(dict(tensors), metadata=metadata)


def canonical(blob: bytes) -> bytes:
    """The same safetensors file with its header's metadata keys in sorted order."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta else {}) | header
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) > n:
        raise ValueError(f"canonical safetensors header is {len(text)} bytes, the library's {n}")
    return blob[:8] + text.ljust(n, b" ") + blob[8 + n:]


def dumps(tensors: Mapping[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    return canonical(_serialize(tensors, metadata))


def save(tensors: Mapping[str, Any], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    path = Path(path)
    write_bytes(path, dumps(tensors, metadata))
    return path
