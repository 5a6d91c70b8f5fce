"""The exercise loop in the real TUI through tmux: open an exercise lab, m (mine), s (run it),
read the learner run's verdict and the probe check off the screen. Skipped without tmux."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_tui_tmux import Tmux, workbench_command  # noqa: E402

from tests.conftest import run_cli  # noqa: E402

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
              pytest.mark.slow]


def test_mine_runs_the_learner_file_in_tmux(tmp_path: Path) -> None:
    assert run_cli("start", "phase-07/lab-03", "--solution", home=tmp_path).returncode == 0
    tmux = Tmux(f"wb-ex-{tmp_path.name}")
    command = (f"cd {tmp_path} && env WORKBENCH_HOME={tmp_path} TERM=xterm-256color {workbench_command()} tui phase-07/lab-03;"
               " echo EXITED $?; sleep 5")
    tmux("new-session", "-d", "-s", "wb", "-x", "110", "-y", "36", command)
    try:
        tmux.wait_for(lambda s: "phase-07/lab-03" in s and "idle" in s, timeout=60)
        tmux.keys("m")
        tmux.wait_for(lambda s: "s runs your code" in s)  # the toast: mine is on
        tmux.keys("s")
        screen = tmux.wait_for(lambda s: "(mine)" in s and "passed ·" in s, timeout=90)
        assert "failed" not in screen
        tmux.keys("q")
        assert "EXITED 0" in tmux.wait_for(lambda s: "EXITED" in s, timeout=20)
    finally:
        tmux("kill-server")
    manifests = [p / "manifest.json" for p in (tmp_path / "runs").iterdir()]
    import json

    (manifest,) = [json.loads(m.read_text()) for m in manifests]
    assert manifest["impl"] == "learner" and manifest["status"] == "passed"
    assert any(c["name"] == "probes: learner vs reference" and c["passed"] for c in manifest["checks"])
