"""The real `workbench` TUI in a real terminal (tmux): open phase-00, run a quick lab, read the screen.

This is what a learner over SSH gets: a pseudo-terminal, keys sent one by one, the screen
read back as text. Skipped when tmux is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed; this test drives the real TUI through it")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.base = ["tmux", "-L", socket, "-f", "/dev/null"]

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "wb")

    def wait_for(self, cond: Callable[[str], bool], timeout: float = 30.0) -> str:
        t0 = time.monotonic()
        while True:
            text = self.screen()
            if cond(text):
                return text
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"screen never matched; last screen:\n{text}")
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time, so Escape is never read as an Alt prefix
            self("send-keys", "-t", "wb", key)
            time.sleep(0.15)


def workbench_command() -> str:
    script = Path(sys.executable).parent / "workbench"
    return str(script) if script.exists() else f"{sys.executable} -m workbench.cli"


def test_real_tui_runs_a_quick_lab_in_tmux(tmp_path: Path) -> None:
    tmux = Tmux(f"wb-test-{tmp_path.name}")
    command = f"cd {tmp_path} && env WORKBENCH_HOME={tmp_path} TERM=xterm-256color {workbench_command()}; echo EXITED $?; sleep 5"
    tmux("new-session", "-d", "-s", "wb", "-x", "100", "-y", "32", command)
    try:
        tmux.wait_for(lambda s: "Progress:" in s)  # the catalog has loaded
        tmux.keys("Enter")  # the strip starts on phase-00
        tmux.wait_for(lambda s: "phase-00" in s and "lab-02" in s)
        tmux.keys("Down", "Down", "Enter")  # lab-00 (manual), lab-01, lab-02: the pickle guard
        tmux.wait_for(lambda s: "pickle guard verdicts" in s and "idle" in s)
        tmux.keys("f", "s")  # quick mode, start
        screen = tmux.wait_for(lambda s: "cases_correct == 5" in s, timeout=60)
        assert "pickle guard verdicts" in screen  # the chart title
        check_line = next(line for line in screen.splitlines() if "cases_correct == 5" in line)
        assert "PASS" in check_line
        assert "passed" in screen  # the pane's progress line
        tmux.keys("q")
        ended = tmux.wait_for(lambda s: "EXITED" in s, timeout=20)
        assert "EXITED 0" in ended
    finally:
        tmux("kill-server")
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "manifest.json").exists()


@pytest.mark.slow  # ~35 s: two real labs side by side
def test_help_and_split_view_at_80x24_in_tmux(tmp_path: Path) -> None:
    """`?` on the lab screen, then lab and break side by side at 80x24: both verdicts, actual values."""
    tmux = Tmux(f"wb-split-{tmp_path.name}")
    command = (f"cd {tmp_path} && env WORKBENCH_HOME={tmp_path} TERM=xterm-256color {workbench_command()} tui phase-00/lab-03;"
               " echo EXITED $?; sleep 5")
    tmux("new-session", "-d", "-s", "wb", "-x", "80", "-y", "24", command)
    try:
        tmux.wait_for(lambda s: "idle" in s)
        tmux.keys("?")
        screen = tmux.wait_for(lambda s: "Keys: Lab" in s)
        assert "Side by side" in screen and "Everywhere" in screen
        tmux.keys("Escape", "f", "d")
        screen = tmux.wait_for(lambda s: s.count("checks ·") >= 2 or ("passed" in s and ("detected" in s or "missed" in s)),
                               timeout=90)
        assert "phase-00/break-00 · break:" in screen  # the break pane names the break it runs
        tmux.keys("q")
        tmux.wait_for(lambda s: "EXITED" in s, timeout=20)
    finally:
        tmux("kill-server")
