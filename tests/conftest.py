"""Shared fixtures: every test that runs labs gets its own workspace (runs/ and workbench.db)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ws"
    home.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


def run_cli(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `workbench` CLI in a subprocess, in workspace `home`."""
    full_env = {**os.environ, "WORKBENCH_HOME": str(home), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        cwd=home,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
