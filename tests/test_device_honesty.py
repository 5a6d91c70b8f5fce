"""--device means what it says: cuda without a usable GPU is a usage error (exit 2), never a quiet
CPU run; auto picks; the manifest's GPU record reads nvidia-smi; needs-based skips say why."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.core.manifest import provenance
from engine.systems.hardware import device
from tests.conftest import run_cli
from workbench.runner.session import skip_reason

NO_CUDA = device.cuda_unavailable_reason() is not None


def test_cpu_is_always_cpu_and_unknown_names_are_rejected() -> None:
    assert device.resolve("cpu") == "cpu"
    with pytest.raises(ValueError, match="expected one of cpu, cuda, auto"):
        device.resolve("gpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a usable CUDA device")
def test_cuda_without_a_device_raises_and_auto_falls_back() -> None:
    with pytest.raises(device.NoDevice, match=r"^no CUDA device: "):
        device.resolve("cuda")
    assert device.resolve("auto") == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a usable CUDA device")
def test_run_with_device_cuda_exits_2_with_one_line_and_runs_nothing(workspace: Path) -> None:
    proc = run_cli("run", "bk-scaling", "--device", "cuda", "--quick", home=workspace, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("no CUDA device: ")
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def _fake_tool(dirpath: Path, name: str, output: str) -> None:
    path = dirpath / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_gpu_record_reads_name_capability_memory_and_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path, "nvidia-smi", "NVIDIA H200, 9.0, 143771, 570.86.15")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    rec = provenance.gpu_info()
    assert rec is not None
    assert (rec["name"], rec["capability"], rec["memory_gb"], rec["driver_version"], rec["count"]) == (
        "NVIDIA H200", "9.0", 140.4, "570.86.15", 1)
    assert "cuda_runtime" in rec  # torch's CUDA runtime version: None for a CPU build


def test_needs_triton_and_nvcc_skip_with_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    assert "pip install -e '.[gpu]'" in (skip_reason(SimpleNamespace(needs=["triton"])) or "")  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    assert "nvcc" in (skip_reason(SimpleNamespace(needs=["nvcc"])) or "")  # type: ignore[arg-type]


def test_bk_scaling_builds_its_ops_on_the_requested_device() -> None:
    import torch

    from engine.labs.bk_scaling import _ops

    ops = _ops(2, 16, 8, 2, 1, torch.Generator().manual_seed(0), device="cpu")
    for fn in ops.values():
        fn()  # forward + backward on the chosen device; a CUDA box runs the same code with device="cuda"
    if NO_CUDA:  # asking for CUDA really asks for it: torch refuses instead of staying on the CPU
        with pytest.raises((RuntimeError, AssertionError)):
            _ops(2, 16, 8, 2, 1, torch.Generator().manual_seed(0), device="cuda")
