"""TUI speed: startup to first paint, and keypress latency while a lab streams 200 events/s.

Both are measured on the real program in a pseudo-terminal (80x24), as a learner over SSH
would run it, and compared with baselines measured in the same run:
- startup: an empty Textual App (a Header, a Footer) started the same way;
- latency: the same keypress on the same screen while no lab is running.
Streaming cases: the selftest stream (200 events/s), and a full (not quick) phase-19/lab-04
run side by side with its break on a loaded machine (one busy-loop process per core), the
case where chart redraws used to push the median past 100 ms.
Targets: first paint < 1.5 s; keypress latency < 100 ms median while streaming.

    .venv/bin/python benchmarks/bench_tui.py [--repeats 5] [--presses 20]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_APP = """
from textual.app import App
from textual.widgets import Footer, Header
class Empty(App):
    TITLE = "Lynx Workbench"
    def compose(self):
        yield Header()
        yield Footer()
Empty().run()
"""
OPEN_LAB = "from workbench.tui.app import run_app; run_app(open_target={target!r})"
BURN = "while True: pass"


class Term:
    """A child process on a pseudo-terminal of a fixed size; its output read as one byte string."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=env["WORKBENCH_HOME"],
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.out = b""

    def read_until(self, pattern: bytes | re.Pattern[bytes], timeout: float = 30.0, start: int = 0) -> float:
        """Seconds (perf_counter) at which `pattern` first appears in the output after `start`."""
        deadline = time.perf_counter() + timeout
        while True:
            hay = self.out[start:]
            if (pattern.search(hay) if isinstance(pattern, re.Pattern) else pattern in hay):
                return time.perf_counter()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{pattern!r} not seen; tail: {self.out[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready:
                try:
                    self.out += os.read(self.master, 1 << 16)
                except OSError:
                    raise TimeoutError("the program closed its terminal") from None

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.out += os.read(self.master, 1 << 16)

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # the TUI cancels any run and exits
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)

    def has_torch(self) -> bool:
        maps = Path(f"/proc/{self.proc.pid}/maps")
        return maps.exists() and "libtorch" in maps.read_text()


def env_for(home: str) -> dict[str, str]:
    env = dict(os.environ, WORKBENCH_HOME=home, TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("NO_COLOR", None)
    return env


def workbench_argv() -> list[str]:
    script = Path(sys.executable).parent / "workbench"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workbench.cli"]


def startup(argv: list[str], marker: bytes, home: str, then: bytes | None = None) -> tuple[float, float | None, bool]:
    term = Term(argv, env_for(home))
    try:
        first = term.read_until(marker) - term.t0
        loaded = term.read_until(then) - term.t0 if then else None
        torch = term.has_torch()
    finally:
        term.close()
    return first, loaded, torch


def latencies(term: Term, presses: int, streaming_until: float | None) -> list[float]:
    """Press `f` (toggle quick) and time until the title line shows the new state."""
    out = []
    on = re.compile(rb"quick: (?:\x1b\[[0-9;]*m)*on")
    off = re.compile(rb"quick: (?:\x1b\[[0-9;]*m)*off")
    shown = re.findall(rb"quick: (?:\x1b\[[0-9;]*m)*(on|off)", term.out)
    state_on = bool(shown) and shown[-1] == b"on"  # whatever an odd number of earlier presses left
    for _ in range(presses):
        if streaming_until is not None and time.perf_counter() > streaming_until:
            break
        mark = len(term.out)
        t0 = time.perf_counter()
        term.press(b"f")
        state_on = not state_on
        out.append(term.read_until(on if state_on else off, timeout=10, start=mark) - t0)
        term.drain(0.08)
    return out


def keypress_bench(home: str, presses: int, target: str = "selftest-stream", start: bytes = b"s",
                   seconds: float = 4.0, load: bool = False) -> tuple[list[float], list[float], int]:
    env = env_for(home)
    env["PYTHONPATH"] = str(ROOT)
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(os.cpu_count() or 1)] if load else []
    term = Term([sys.executable, "-c", OPEN_LAB.format(target=target)], env)
    try:
        term.read_until(b"idle", timeout=60)
        term.drain(0.5)
        idle = latencies(term, presses, None)
        # `f` was pressed an even number of times: quick is off, so the full run streams.
        mark = len(term.out)
        term.press(start)
        term.read_until(re.compile(rb"running|starting"), start=mark, timeout=60)
        term.read_until(re.compile(rb"\d+%"), start=mark, timeout=120)  # the first progress on screen
        term.drain(0.3)
        busy = latencies(term, presses, time.perf_counter() + seconds)
        frames = len(re.findall(rb"running", term.out[mark:]))
    finally:
        term.close()
        for b in burners:
            b.kill()
    return idle, busy, frames


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return f"median {1000 * statistics.median(xs):6.1f} ms  p95 {1000 * p95:6.1f} ms  max {1000 * xs[-1]:6.1f} ms  (n={len(xs)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), pty 80x24")
        base = [startup([sys.executable, "-c", BASELINE_APP], b"Lynx Workbench", home)[0] for _ in range(args.repeats)]
        runs = [startup(workbench_argv(), b"Lynx Workbench", home, then=b"Progress:") for _ in range(args.repeats)]
        first = [r[0] for r in runs]
        loaded = [r[1] for r in runs if r[1] is not None]
        b, f, l_ = statistics.median(base), statistics.median(first), statistics.median(loaded)
        print(f"\nstartup to first paint (median of {args.repeats})")
        print(f"  baseline: empty Textual app      {b:6.3f} s")
        print(f"  workbench (home screen)          {f:6.3f} s   ratio {f / b:4.2f}x baseline   target < 1.5 s: {'OK' if f < 1.5 else 'MISSED'}")
        print(f"  workbench, catalog loaded        {l_:6.3f} s   ratio {l_ / b:4.2f}x baseline   (content on screen)")
        print(f"  torch loaded in the TUI process: {any(r[2] for r in runs)}")

        idle, busy, frames = keypress_bench(home, args.presses)
        mi, mb = statistics.median(idle), statistics.median(busy)
        print("\nkeypress latency, key -> screen updated (lab screen, 'f' toggles quick)")
        print(f"  baseline: no lab running         {ms(idle)}")
        print(f"  selftest-stream at 200 events/s  {ms(busy)}")
        print(f"  ratio streaming / idle (median)  {mb / mi:4.2f}x   target < 100 ms: {'OK' if max(busy) < 0.1 else ('OK (median)' if mb < 0.1 else 'MISSED')}")
        print(f"  progress-line updates written while streaming (~4 s, polled at 4 Hz): {frames}")

        idle19, busy19, _ = keypress_bench(home, args.presses, "phase-19/lab-04", start=b"d", seconds=8.0, load=True)
        m19i, m19b = statistics.median(idle19), statistics.median(busy19)
        print(f"\nphase-19/lab-04 + break side by side, full run, {os.cpu_count()} busy-loop process(es) loading the machine")
        print(f"  idle (loaded machine)            {ms(idle19)}")
        print(f"  streaming                        {ms(busy19)}")
        print(f"  ratio streaming / idle (median)  {m19b / m19i:4.2f}x   target < 100 ms median: {'OK' if m19b < 0.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
