"""A CUDA GPU measured through torch: properties, copy bandwidth, matmul peaks, its roofline.

Everything here needs a usable CUDA device (engine.systems.hardware.device.cuda_unavailable_reason()
is None); `measure_gpu` returns None without one so the CPU roofline can skip it cleanly.

device_query      every property torch / nvidia-smi expose, plus what is derived from them:
                  HBM bandwidth = 2 x memory clock x bus width / 8, fp32 peak = SMs x cores/SM x
                  2 x clock, fp16 tensor peak = SMs x tensor cores/SM x FMA/clock x 2 x clock.
                  Cores and tensor cores per SM are not queryable: they come from ARCH below.
copy_sweep        H2D / D2H (pinned or pageable host memory) and D2D GB/s over buffer sizes.
matmul_tflops     n x n matmul per dtype, timed with CUDA events after warm-ups.
measure_gpu       the ceilings the roofline cache keeps (the keys workbench/roofline.py reads).
smi_record        what a manifest keeps about the GPU, read from nvidia-smi without torch.
Timings use CUDA events around a batch of launches, synchronised before and after.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

# compute capability -> (fp32 cores per SM, tensor cores per SM, dense fp16 FMA per clock per tensor core)
ARCH: dict[str, tuple[int, int, int]] = {
    "7.0": (64, 8, 64),     # Volta V100
    "7.5": (64, 8, 64),     # Turing
    "8.0": (64, 4, 256),    # A100 (GA100: 64 fp32 cores per SM, not 128)
    "8.6": (128, 4, 128),   # GA10x (A10, RTX 30): fp16 accumulate rate
    "8.7": (128, 4, 128),   # Orin
    "8.9": (128, 4, 128),   # Ada (L4, L40, RTX 40)
    "9.0": (128, 4, 512),   # Hopper H100 / H200
}


def smi_rows(fields: str) -> list[list[str]] | None:
    """One nvidia-smi query, a row per GPU (None when the tool is missing or fails)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return [[p.strip() for p in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


def smi_query(fields: str) -> list[str] | None:
    """`smi_rows` for GPU 0 only."""
    rows = smi_rows(fields)
    return rows[0] if rows else None


def torch_cuda_runtime() -> str | None:
    """torch's CUDA runtime version, read from torch/version.py without importing torch."""
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return None
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return m.group(1) if m else None


def smi_record() -> dict[str, Any] | None:
    """What a manifest keeps about the GPU, without importing torch: GPU 0's name, capability,
    memory and driver as nvidia-smi reports them, torch's CUDA runtime, the GPU count; None without one."""
    rows = smi_rows("name,compute_cap,memory.total,driver_version")
    if not rows or len(rows[0]) < 4:
        return None
    name, cap, mem, driver = rows[0][:4]
    return {"name": name, "capability": cap, "memory_gb": round(float(mem) / 1024, 1), "driver_version": driver,
            "cuda_runtime": torch_cuda_runtime(), "count": len(rows)}


def _num(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "[N/A]", "N/A") else None
    except ValueError:
        return None


def device_query(index: int = 0) -> dict[str, Any]:
    """Queried and derived properties of one device; a field that cannot be read is None."""
    import torch

    p = torch.cuda.get_device_properties(index)
    cc = f"{p.major}.{p.minor}"
    smi = smi_query("clocks.max.sm,clocks.max.memory,pcie.link.gen.max,pcie.link.width.max,pci.bus_id,driver_version") or [None] * 6
    get = lambda name: getattr(p, name, None)  # noqa: E731 - attribute names vary across torch releases
    sm_clock_mhz = _num(smi[0]) or (get("clock_rate") / 1000 if get("clock_rate") else None)  # torch reports kHz
    mem_clock_mhz = _num(smi[1]) or (get("memory_clock_rate") / 1000 if get("memory_clock_rate") else None)
    bus_bits = get("memory_bus_width")
    cores, tcs, fma = ARCH.get(cc, (None, None, None))
    sms = p.multi_processor_count
    q: dict[str, Any] = {
        "device_count": torch.cuda.device_count(), "device_index": index, "name": p.name,
        "compute_capability": cc, "total_memory_gib": round(p.total_memory / 1024**3, 2),
        "memory_bus_width_bits": bus_bits, "memory_clock_rate_mhz": mem_clock_mhz,
        "multiprocessor_count": sms, "cuda_cores_per_sm": cores, "tensor_cores_per_sm": tcs,
        "total_cuda_cores": sms * cores if cores else None, "total_tensor_cores": sms * tcs if tcs else None,
        "max_threads_per_sm": get("max_threads_per_multi_processor"), "warp_size": get("warp_size"),
        "max_threads_per_block": get("max_threads_per_block"),
        "register_file_per_sm_kib": get("regs_per_multiprocessor") and get("regs_per_multiprocessor") * 4 / 1024,
        "shared_memory_per_block_kib": get("shared_memory_per_block") and get("shared_memory_per_block") / 1024,
        "shared_memory_per_sm_kib": get("shared_memory_per_multiprocessor") and get("shared_memory_per_multiprocessor") / 1024,
        "l2_cache_mib": get("L2_cache_size") and get("L2_cache_size") / 1024**2,
        "clock_rate_mhz": sm_clock_mhz, "pci_bus_id": smi[4], "pcie_generation": _num(smi[2]),
        "pcie_lane_width": _num(smi[3]), "driver_version": smi[5], "cuda_runtime": torch.version.cuda,
    }
    if q["max_threads_per_sm"] and q["warp_size"]:
        q["max_warps_per_sm"] = q["max_threads_per_sm"] // q["warp_size"]
    else:
        q["max_warps_per_sm"] = None
    q["theoretical_hbm_bandwidth_gbs"] = 2 * mem_clock_mhz * bus_bits / 8 / 1000 if mem_clock_mhz and bus_bits else None
    ghz = sm_clock_mhz / 1000 if sm_clock_mhz else None
    q["peak_fp32_tflops"] = sms * cores * 2 * ghz / 1000 if cores and ghz else None
    q["peak_fp16_tflops_tensor"] = sms * tcs * fma * 2 * ghz / 1000 if tcs and ghz else None
    q["peak_bf16_tflops_tensor"] = q["peak_fp16_tflops_tensor"] if p.major >= 8 else None
    gen, width = q["pcie_generation"], q["pcie_lane_width"]
    per_lane = {3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}  # GB/s per lane after encoding overhead
    q["pcie_peak_gbs"] = per_lane.get(int(gen)) * width if gen and width and int(gen) in per_lane else None
    return q


def event_seconds(fn: Callable[[], object], reps: int, warmup: int = 3) -> float:
    """Seconds per call of `fn`, timed with CUDA events over `reps` calls after `warmup` calls."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / reps


def _reps_for(fn: Callable[[], object], min_seconds: float) -> int:
    """Enough repetitions that one timed batch lasts about `min_seconds`."""
    one = event_seconds(fn, 1, warmup=1)
    return max(1, min(100_000, int(min_seconds / max(one, 1e-7)) + 1))


def copy_gbs(direction: str, nbytes: int, pinned: bool = True, min_seconds: float = 0.1, warmup: int = 3) -> dict[str, Any]:
    """One copy size in one direction: h2d, d2h or d2d (bytes counted once per copy)."""
    import torch

    n = max(1, nbytes // 4)
    dev = torch.device("cuda")
    if direction == "d2d":
        src, dst = torch.ones(n, device=dev), torch.empty(n, device=dev)
    elif direction == "h2d":
        src, dst = torch.ones(n, pin_memory=pinned), torch.empty(n, device=dev)
    elif direction == "d2h":
        src, dst = torch.ones(n, device=dev), torch.empty(n, pin_memory=pinned)
    else:
        raise ValueError(f"direction {direction!r}: h2d, d2h or d2d")
    fn = lambda: dst.copy_(src, non_blocking=pinned)  # noqa: E731
    reps = _reps_for(fn, min_seconds)
    t = event_seconds(fn, reps, warmup)
    return {"direction": direction, "pinned": pinned, "bytes": 4 * n, "iters": reps, "seconds": t,
            "throughput_gbs": 4 * n / t / 1e9}


def matmul_tflops(n: int, dtype: str, iters: int = 100, warmup: int = 3) -> dict[str, Any]:
    """n x n @ n x n in `dtype` (float32 with TF32 off, tf32, float16, bfloat16)."""
    import torch

    tdtype = {"float32": torch.float32, "tf32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        a = torch.randn(n, n, device="cuda", dtype=tdtype)
        b = torch.randn(n, n, device="cuda", dtype=tdtype)
        t = event_seconds(lambda: a @ b, iters, warmup)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    flops = 2.0 * n**3
    size = torch.tensor([], dtype=tdtype).element_size()
    return {"dtype": dtype, "n": n, "seconds": t, "tflops": flops / t / 1e12, "flops": flops,
            "bytes": 3.0 * n * n * size, "intensity": flops / (3.0 * n * n * size)}


def measure_gpu(quick: bool = False) -> dict[str, Any] | None:
    """GPU ceilings for the roofline cache, or None without CUDA. Keys: name, capability, memory_gb,
    bandwidth_gbs (D2D copy, bytes read + written), h2d_pinned_gbs, peak_{fp32,tf32,fp16,bf16}_gflops."""
    from engine.systems.hardware.device import cuda_unavailable_reason

    if cuda_unavailable_reason() is not None:
        return None
    import torch

    props = torch.cuda.get_device_properties(0)
    size = (256 if quick else 1024) * 1024**2
    d2d = copy_gbs("d2d", size, min_seconds=0.05 if quick else 0.2)
    out: dict[str, Any] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                           "memory_gb": round(props.total_memory / 1024**3, 1),
                           "bandwidth_gbs": 2 * d2d["throughput_gbs"],  # a copy reads and writes each byte
                           "h2d_pinned_gbs": copy_gbs("h2d", size // 4, min_seconds=0.05)["throughput_gbs"]}
    m = 4096 if quick else 8192
    for key, dtype in (("fp32", "float32"), ("tf32", "tf32"), ("fp16", "float16"), ("bf16", "bfloat16")):
        out[f"peak_{key}_gflops"] = 1e3 * matmul_tflops(m, dtype, iters=3 if quick else 10)["tflops"]
    torch.cuda.empty_cache()
    return out
