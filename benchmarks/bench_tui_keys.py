"""Where a key press's time goes on the TUI's UI thread while phase-19/lab-04 streams side by side.

bench_tui.py times keys end to end in a pseudo-terminal, which on a shared box mixes the TUI's
own work with waiting for a core. This one runs the real app in-process (Textual's headless
driver, 80x24), starts the split view (`d`, full run), presses `f` (toggle quick) every 80 ms
for D seconds, and reports what is independent of the machine's load:

* UI-thread CPU per second and per press (time.thread_time around the whole loop);
* event-loop callbacks that used more than 30 ms of UI-thread CPU (the spikes), and the largest;
* how many full layouts were asked for, by which widget (a layout reflows and repaints the whole
  screen, charts included: the expensive path), and screen-wide repaints done;
* key latency, wall, press to processed (read with the load average beside it).

Run: .venv/bin/python benchmarks/bench_tui_keys.py [--seconds 20] [--target phase-19/lab-04] [--json]

Measured on the project's 2-core box (load average 15-16 from other jobs), 20 s each, 2026-12-02:

    before  (the title's update and the header's run indicator each asked for a full layout)
      UI-thread CPU 111 ms/s, 84 ms per press; callbacks over 30 ms CPU: 4 (largest 138 ms)
      full layouts asked: 68 {HeaderTitle: 40, Static #lab-title: 28}; screen-wide repaints: 54
      key latency (wall): median 125 ms, p95 2257 ms, max 2518 ms
    after   (title updated in place, layout=False: one fixed row; indicator in 10 % steps)
      UI-thread CPU 96 ms/s, 53 ms per press; callbacks over 30 ms CPU: 1 (largest 37 ms)
      full layouts asked: 16 {FooterKey: 10, HeaderTitle: 6}; screen-wide repaints: 9
      key latency (wall): median 125 ms, p95 1431 ms, max 1771 ms

The cause of the spikes was the UI thread's own work, not a query or a file read: every `f`
press and every percent of the header's indicator reflowed and repainted the whole screen, split
charts included (a full repaint measured 100-220 ms on this box), and a press landing on one
waited for it. The wall figures stay high here because the box ran 15 runnable processes on 2
cores; the CPU and repaint counts are what the fix changed.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SLOW_CPU_S = 0.03


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--target", default="phase-19/lab-04")
    ap.add_argument("--key", default="d", help="the key that starts the runs (d: side by side)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="bench-tui-keys-"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    from textual._compositor import Compositor
    from textual.widget import Widget

    from workbench.tui.app import WorkbenchApp

    record = [False]
    slow: list[float] = []
    layouts: collections.Counter[str] = collections.Counter()
    full_updates = [0]
    run_handle = asyncio.events.Handle._run

    def timed(self: asyncio.events.Handle) -> None:
        c0 = time.thread_time()
        run_handle(self)
        if record[0] and (dt := time.thread_time() - c0) > SLOW_CPU_S:
            slow.append(dt)

    refresh = Widget.refresh

    def counted(self: Widget, *args: object, layout: bool = False, **kw: object) -> object:
        if layout and record[0]:
            layouts[type(self).__name__] += 1
        return refresh(self, *args, layout=layout, **kw)

    full = Compositor.render_full_update

    def full_update(self: Compositor, *args: object, **kw: object) -> object:
        if record[0]:
            full_updates[0] += 1
        return full(self, *args, **kw)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    Widget.refresh = counted  # type: ignore[method-assign]
    Compositor.render_full_update = full_update  # type: ignore[method-assign]
    out: dict = {}

    async def session() -> None:
        app = WorkbenchApp()
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(400):
                await pilot.pause(0.05)
                if app.catalog is not None:
                    break
            app.open_lab_target(a.target)
            await pilot.pause(0.5)
            await pilot.press(a.key)
            await pilot.pause(1.0)
            lat: list[float] = []
            record[0] = True
            c0, w0 = time.thread_time(), time.perf_counter()
            while time.perf_counter() - w0 < a.seconds:
                t0 = time.perf_counter()
                await pilot.press("f")
                lat.append(time.perf_counter() - t0)
                await pilot.pause(0.08)
            cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
            record[0] = False
            for live in list(app.live.values()):
                live.cancel.set()
            await pilot.pause(0.5)
        lat.sort()
        out.update({
            "target": a.target, "seconds": round(wall, 1), "presses": len(lat), "load_avg_1m": os.getloadavg()[0],
            "ui_cpu_per_s_ms": 1000 * cpu / wall, "ui_cpu_per_press_ms": 1000 * cpu / max(1, len(lat)),
            "slow_callbacks": len(slow), "slowest_callback_cpu_ms": 1000 * max(slow, default=0.0),
            "layouts": dict(layouts.most_common()), "full_repaints": full_updates[0],
            "key_median_ms": 1000 * statistics.median(lat), "key_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "key_max_ms": 1000 * lat[-1],
        })

    asyncio.run(session())
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['target']} side by side, {out['seconds']} s, {out['presses']} presses of f, load average {out['load_avg_1m']:.1f}")
    print(f"  UI-thread CPU {out['ui_cpu_per_s_ms']:.0f} ms/s, {out['ui_cpu_per_press_ms']:.0f} ms per press; "
          f"callbacks over {1000 * SLOW_CPU_S:.0f} ms CPU: {out['slow_callbacks']} (largest {out['slowest_callback_cpu_ms']:.0f} ms)")
    print(f"  full layouts asked: {sum(layouts.values())} {out['layouts']}; screen-wide repaints: {out['full_repaints']}")
    print(f"  key latency (wall): median {out['key_median_ms']:.0f} ms, p95 {out['key_p95_ms']:.0f} ms, max {out['key_max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
