"""What this machine is, read without sudo: lscpu, /proc/cpuinfo, sysfs caches, /proc/meminfo.

Every field degrades to "unknown" (or None for numbers) rather than failing, because the
same lab runs on a laptop, a container and a rented GPU box. From the profile we derive the
textbook ceilings: peak FLOP/s = clock x cores x SIMD lanes x FMA, and DRAM bandwidth =
channels x MT/s x 8 bytes (DIMM speed needs dmidecode, i.e. sudo, so it is an assumption).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

SYS_CPU = Path("/sys/devices/system/cpu")
ASSUMED_DRAM = {"kind": "DDR4-2400", "mts": 2400, "channels": 2}  # course fallback: 38.4 GB/s


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5, env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    rows = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in rows}


def _cpuinfo() -> dict[str, str]:
    text = _read(Path("/proc/cpuinfo")) or ""
    first = text.split("\n\n", 1)[0]
    rows = (line.split(":", 1) for line in first.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in rows}


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (x86 `flags`, Arm `Features`) from /proc/cpuinfo; empty when unreadable.
    The one cpuinfo reader: the INT8 kernel's VNNI check and the profile below use it."""
    return _cpu_flags_cached()


@lru_cache(maxsize=1)
def _cpu_flags_cached() -> frozenset[str]:
    ci = _cpuinfo()
    return frozenset((ci.get("flags") or ci.get("Features") or "").split())


def parse_size(text: str | None) -> int | None:
    """'32K' / '512 KiB' / '32 MiB (1 instance)' -> bytes."""
    if not text:
        return None
    m = re.match(r"\s*([\d.]+)\s*([KMG]?)(i?B)?", text)
    if not m:
        return None
    scale = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]
    return int(float(m.group(1)) * scale)


def cache_levels() -> list[dict[str, Any]]:
    """Per-core data/unified caches from sysfs: level, type, size_bytes, line_bytes."""
    levels = []
    for idx in sorted((SYS_CPU / "cpu0" / "cache").glob("index*")):
        kind = _read(idx / "type")
        if kind == "Instruction":
            continue
        levels.append({
            "level": int(_read(idx / "level") or 0),
            "type": kind or "unknown",
            "size_bytes": parse_size(_read(idx / "size")),
            "line_bytes": int(_read(idx / "coherency_line_size") or 0) or None,
        })
    return levels


def simd_fp32_lanes(flags: set[str]) -> int:
    """fp32 lanes per vector instruction: 16 for AVX-512, 8 for AVX/AVX2, 4 for SSE, 1 otherwise."""
    if "avx512f" in flags:
        return 16
    if "avx" in flags or "avx2" in flags:
        return 8
    if "sse" in flags or "sse2" in flags or "neon" in flags or "asimd" in flags:
        return 4
    return 1


def clock_ghz(lscpu: dict[str, str], cpuinfo: dict[str, str]) -> tuple[float | None, str]:
    """Best-known clock and where it came from (base before boost, as the course's lab 00 does)."""
    base = _read(SYS_CPU / "cpu0" / "cpufreq" / "base_frequency")
    if base:
        return int(base) / 1e6, "sysfs base_frequency"
    if lscpu.get("CPU max MHz"):
        return float(lscpu["CPU max MHz"]) / 1000, "lscpu max MHz"
    if cpuinfo.get("cpu MHz"):
        return float(cpuinfo["cpu MHz"]) / 1000, "/proc/cpuinfo cpu MHz (current)"
    return None, "unknown"


def machine_profile() -> dict[str, Any]:
    """The machine, as far as an unprivileged process can tell."""
    ls, ci = _lscpu(), _cpuinfo()
    flags = set(cpu_flags() or (ls.get("Flags") or "").split())
    cores_per_socket = int(ls.get("Core(s) per socket", "0") or 0)
    sockets = int(ls.get("Socket(s)", "1") or 1)
    physical = cores_per_socket * sockets or (os.cpu_count() or 1)
    ghz, clock_source = clock_ghz(ls, ci)
    mem_kib = None
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    avail_kib = None
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemAvailable:"):
            avail_kib = int(line.split()[1])
    return {
        "cpu_model": ls.get("Model name") or ci.get("model name") or platform.processor() or "unknown",
        "arch": platform.machine() or "unknown",
        "physical_cores": physical,
        "logical_cpus": os.cpu_count() or 1,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        "clock_ghz": ghz,
        "clock_source": clock_source,
        "simd": sorted(f for f in flags if f in {"sse2", "avx", "avx2", "fma", "avx512f", "neon", "asimd"}),
        "fp32_lanes": simd_fp32_lanes(flags),
        "fma": "fma" in flags or "asimd" in flags,
        "caches": cache_levels(),
        "ram_gb": round(mem_kib / 1024**2, 1) if mem_kib else None,
        "ram_available_gb": round(avail_kib / 1024**2, 1) if avail_kib else None,
        "governor": _read(SYS_CPU / "cpu0" / "cpufreq" / "scaling_governor") or "unknown",
        "hypervisor": ls.get("Hypervisor vendor", "none"),
        "kernel": platform.release() or "unknown",
        "dram_assumption": dict(ASSUMED_DRAM),
    }


def derived_peak_gflops(profile: dict[str, Any]) -> float | None:
    """Textbook fp32 peak: clock x cores x lanes x (2 if FMA). One FMA unit per core assumed."""
    if not profile.get("clock_ghz"):
        return None
    fma = 2 if profile.get("fma") else 1
    cores = min(profile["physical_cores"], profile["usable_cpus"])
    return profile["clock_ghz"] * cores * profile["fp32_lanes"] * fma


def derived_dram_gbs(profile: dict[str, Any]) -> float:
    """channels x MT/s x 8 bytes per transfer, from the (assumed) DIMM configuration."""
    d = profile["dram_assumption"]
    return d["channels"] * d["mts"] * 1e6 * 8 / 1e9


def last_level_cache_bytes(profile: dict[str, Any]) -> int:
    sizes = [c["size_bytes"] for c in profile.get("caches", []) if c.get("size_bytes")]
    return max(sizes) if sizes else 32 * 1024**2


def line_bytes(profile: dict[str, Any]) -> int:
    lines = [c["line_bytes"] for c in profile.get("caches", []) if c.get("line_bytes")]
    return lines[0] if lines else 64
