"""engine.core.tensorfile: a safetensors file's bytes depend only on its tensors and metadata.

The library writes `__metadata__` in a per-process hash order, so the same checkpoint saved by two
processes had two sha256 values in their manifests. These tests save in fresh interpreters (each
seeds its own hash order) and compare bytes, and check the files still load with the library.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as np_load
from safetensors.torch import load_file as torch_load

from engine.core import tensorfile

META = {"format": "x", "config": '{"d": 4, "name": "ñ\\n"}', "zeta": "\u0001 tab\t", "alpha": "1", "b": ""}

_SAVE = """
import sys, numpy as np, torch
from engine.core import tensorfile
meta = {meta!r}
tensorfile.save({{"w": np.arange(12.0).reshape(3, 4), "b": np.ones(5, np.float32), "i": np.arange(3)}},
                sys.argv[1] + "/np.safetensors", meta)
tensorfile.save({{"E": torch.arange(6.0).reshape(2, 3), "h": torch.ones(4, dtype=torch.bfloat16)}},
                sys.argv[1] + "/pt.safetensors", meta)
"""


def _digests(d: Path) -> tuple[str, str]:
    return tuple(hashlib.sha256((d / f).read_bytes()).hexdigest() for f in ("np.safetensors", "pt.safetensors"))  # type: ignore[return-value]


def test_same_bytes_from_separate_processes(tmp_path: Path) -> None:
    seen = set()
    for k in range(4):
        d = tmp_path / str(k)
        d.mkdir()
        subprocess.run([sys.executable, "-c", _SAVE.format(meta=META), str(d)], check=True,
                       cwd=Path(__file__).resolve().parents[1])
        seen.add(_digests(d))
    assert len(seen) == 1


def test_files_load_with_the_library(tmp_path: Path) -> None:
    arrays = {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(5, np.float32)}
    p = tensorfile.save(arrays, tmp_path / "a" / "np.safetensors", META)
    back = np_load(str(p))
    assert set(back) == set(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)
    with safe_open(str(p), framework="np") as f:
        assert f.metadata() == META
    t = {"E": torch.randn(3, 5), "h": torch.ones(2, dtype=torch.bfloat16)}
    q = tensorfile.save(t, tmp_path / "pt.safetensors")
    assert all(torch.equal(torch_load(str(q))[k], t[k]) for k in t)


def test_metadata_keys_sorted_and_header_length_kept() -> None:
    from safetensors.numpy import save

    raw = save({"a": np.zeros(2)}, metadata=META)
    out = tensorfile.canonical(raw)
    n = int.from_bytes(raw[:8], "little")
    assert len(out) == len(raw) and out[:8] == raw[:8] and out[8 + n:] == raw[8 + n:]
    assert out[8:8 + n].index(b'"alpha"') < out[8:8 + n].index(b'"b"') < out[8:8 + n].index(b'"zeta"')


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.core import atomic

    p = tensorfile.save({"a": np.zeros(2)}, tmp_path / "m.safetensors")
    before = p.read_bytes()

    def disk_full(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        tensorfile.save({"a": np.ones(2)}, p)
    assert p.read_bytes() == before and [f.name for f in tmp_path.iterdir()] == ["m.safetensors"]
