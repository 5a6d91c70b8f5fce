"""GPU ceilings through torch, when CUDA is present: device-memory bandwidth and matmul peak.

Returns None on a machine without CUDA (or without torch), so callers can skip cleanly.
"""

from __future__ import annotations

from typing import Any


def measure_gpu(quick: bool = False) -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)

    def timed(fn: Any, reps: int) -> float:
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        best = float("inf")
        for _ in range(3):
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3 / reps)
        return best

    n = (1 << 26) if quick else (1 << 28)  # float32 elements: 256 MiB / 1 GiB

    def copy_time() -> float:
        src = torch.ones(n, device=dev)
        dst = torch.empty_like(src)
        return timed(lambda: dst.copy_(src), 5 if quick else 20)

    t_copy = copy_time()
    out: dict[str, Any] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                           "memory_gb": round(props.total_memory / 1024**3, 1),
                           "bandwidth_gbs": 8.0 * n / t_copy / 1e9}
    m = 4096 if quick else 8192
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(m, m, device=dev, dtype=dtype)
        b = torch.randn(m, m, device=dev, dtype=dtype)
        t = timed(lambda a=a, b=b: a @ b, 3 if quick else 10)
        out[f"peak_{name}_gflops"] = 2.0 * m**3 / t / 1e9
        del a, b
    torch.backends.cuda.matmul.allow_tf32 = old_tf32
    torch.cuda.empty_cache()
    return out
