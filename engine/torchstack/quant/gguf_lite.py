"""GGUF-lite: a small, self-describing, little-endian file for a quantized MiniGPT. No pickle.

    header       b"GLFT", version u32 = 1, n_tensors u32, metadata_len u32
    metadata     metadata_len bytes of utf-8 "key=value" lines
    descriptors  per tensor: name_len u16, name, n_dims u8, dims u32 x n_dims, dtype u8, offset u64
    data         the tensors back to back (offsets count from the start of this section)

dtype 0 F32, 1 F16, 2 Q8_per_channel (out FP16 scales, then out x in int8),
3 Q4_per_group_64 (out x in/64 FP16 scales, then out x in/2 bytes, two signed 4-bit codes per
byte, low nibble = even index). The course writes the magic as the integer 0x474C4654, which
little-endian would put "TFLG" on disk; we write the four bytes "GLFT" themselves.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from engine.torchstack.quant.qlinear import QuantizedLinear, is_embedding

MAGIC = b"GLFT"
VERSION = 1
F32, F16, Q8, Q4 = 0, 1, 2, 3


def pack_int4(q: np.ndarray) -> np.ndarray:
    """Signed codes in [-8, 7], shape (out, in) with even `in` -> bytes (out, in/2), low nibble first."""
    u = (q.astype(np.int16) & 0xF).astype(np.uint8)
    return (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)


def unpack_int4(b: np.ndarray) -> np.ndarray:
    lo, hi = (b & 0xF).astype(np.int8), (b >> 4).astype(np.int8)
    lo, hi = np.where(lo > 7, lo - 16, lo), np.where(hi > 7, hi - 16, hi)
    out = np.empty((b.shape[0], b.shape[1] * 2), dtype=np.int8)
    out[:, 0::2], out[:, 1::2] = lo, hi
    return out


def _entries(model: nn.Module) -> list[tuple[str, int, tuple[int, ...], bytes]]:
    quantized = any(isinstance(m, QuantizedLinear) for m in model.modules())
    entries = []
    done: set[str] = set()
    for name, m in model.named_modules():
        if isinstance(m, QuantizedLinear) and m.scheme in ("int8_per_channel", "per_group_64", "gptq_per_group_64"):
            q = m.W_int8.cpu().numpy()
            s = m.scale.cpu().numpy().astype("<f2")
            if m.scheme == "int8_per_channel":
                blob = s.reshape(-1).tobytes() + q.astype("<i1").tobytes()
                entries.append((f"{name}.weight", Q8, tuple(q.shape), blob))
            else:
                entries.append((f"{name}.weight", Q4, tuple(q.shape), s.tobytes() + pack_int4(q).tobytes()))
            done.add(f"{name}.weight")
        elif isinstance(m, QuantizedLinear):  # other schemes are stored dequantized
            w = m.dequantized_weight().detach().cpu().numpy().astype("<f4")
            entries.append((f"{name}.weight", F32, tuple(w.shape), w.tobytes()))
            done.add(f"{name}.weight")
    for name, p in model.state_dict().items():
        if name in done or name.endswith(("W_int8", ".scale")):
            continue
        a = p.detach().cpu().numpy()
        if quantized and is_embedding(name):
            entries.append((name, F16, tuple(a.shape), a.astype("<f2").tobytes()))
        else:
            entries.append((name, F32, tuple(a.shape), a.astype("<f4").tobytes()))
    return entries


def write_gguf_lite(path: str | Path, model: nn.Module, metadata: dict[str, object]) -> int:
    """Write the model (QuantizedLinears as codes + scales); returns the file size in bytes."""
    entries = _entries(model)
    meta = "\n".join(f"{k}={v}" for k, v in metadata.items()).encode()
    head = MAGIC + struct.pack("<III", VERSION, len(entries), len(meta)) + meta
    desc, data, offset = b"", b"", 0
    for name, dtype, dims, blob in entries:
        nb = name.encode()
        desc += struct.pack("<H", len(nb)) + nb + struct.pack("<B", len(dims))
        desc += struct.pack(f"<{len(dims)}I", *dims) + struct.pack("<BQ", dtype, offset)
        data += blob
        offset += len(blob)
    Path(path).write_bytes(head + desc + data)
    return len(head) + len(desc) + len(data)


def _decode(dtype: int, dims: tuple[int, ...], buf: memoryview) -> Tensor:
    numel = int(np.prod(dims)) if dims else 1
    if dtype == F32:
        a = np.frombuffer(buf, "<f4", numel).reshape(dims)
    elif dtype == F16:
        a = np.frombuffer(buf, "<f2", numel).astype(np.float32).reshape(dims)
    elif dtype == Q8:
        out_f = dims[0]
        s = np.frombuffer(buf, "<f2", out_f).astype(np.float32)
        q = np.frombuffer(buf, "<i1", numel, offset=2 * out_f).reshape(dims)
        a = q.astype(np.float32) * s[:, None]
    elif dtype == Q4:
        out_f, in_f = dims
        n_s = out_f * in_f // 64
        s = np.frombuffer(buf, "<f2", n_s).astype(np.float32).reshape(out_f, in_f // 64)
        q = unpack_int4(np.frombuffer(buf, np.uint8, numel // 2, offset=2 * n_s).reshape(out_f, in_f // 2))
        a = (q.astype(np.float32).reshape(out_f, in_f // 64, 64) * s[:, :, None]).reshape(dims)
    else:
        raise ValueError(f"unknown dtype code {dtype}")
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


def read_gguf_lite(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Every tensor dequantized to FP32, and the metadata as strings."""
    raw = memoryview(Path(path).read_bytes())
    if bytes(raw[:4]) != MAGIC:
        raise ValueError(f"not a GGUF-lite file: magic {bytes(raw[:4])!r}")
    version, n, meta_len = struct.unpack_from("<III", raw, 4)
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    pos = 16
    meta = dict(line.split("=", 1) for line in bytes(raw[pos: pos + meta_len]).decode().splitlines() if line)
    pos += meta_len
    descs = []
    for _ in range(n):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        name = bytes(raw[pos + 2: pos + 2 + name_len]).decode()
        pos += 2 + name_len
        (nd,) = struct.unpack_from("<B", raw, pos)
        dims = struct.unpack_from(f"<{nd}I", raw, pos + 1)
        pos += 1 + 4 * nd
        dtype, offset = struct.unpack_from("<BQ", raw, pos)
        pos += 9
        descs.append((name, dtype, tuple(dims), offset))
    return {name: _decode(dtype, dims, raw[pos + off:]) for name, dtype, dims, off in descs}, meta


def file_size_ratio(fp32_model: nn.Module, q_model: nn.Module, path: str | Path) -> float:
    """Size of the FP32 model's file over the quantized model's file, both in this format."""
    q_size = write_gguf_lite(path, q_model, {"arch": "minigpt"})
    fp_path = Path(path).with_suffix(".fp32.gguf-lite")
    fp_size = write_gguf_lite(fp_path, fp32_model, {"arch": "minigpt"})
    fp_path.unlink()
    return fp_size / q_size
