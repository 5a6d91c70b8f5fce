"""How far a run is, from its own event stream: one bar per lab, the sub-run, an ETA.

Labs report `progress(done, total)` in whatever unit suits them, and several restart it for
each sub-run (a baseline, then each injection). This tracker turns that into one fraction
for the whole lab that never goes backwards: sub-runs counted, and inside a sub-run the
latest logged step over the lab's own step budget (its config's `total_steps`, `steps`…)
when it has one. The ETA extrapolates from that fraction once it is big enough to trust,
and before then from the previous run's wall time of the same target. Shared by the TUI's
run pane and the headless `workbench run` (anything with the event stream can use it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

STEP_BUDGET_KEYS = ("total_steps", "steps", "max_steps", "iters", "iterations")
TRUST_FRACTION = 0.05  # below this, the lab's own rate is too noisy to extrapolate


@dataclass
class RunProgress:
    config: dict[str, Any] = field(default_factory=dict)
    series_key: str | None = None  # the charts' series_by: names the sub-run (e.g. `injection`)
    previous_wall: float | None = None  # the last finished run of this target, seconds
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    sub_runs: int = 0  # how many times progress started over (0: it never did)
    last_step: float | None = None
    sub_label: str = ""
    events: int = 0
    inner_done: int = 0
    inner_total: int = 0
    # the bar never goes back: after a revision (raw estimate fell), it holds and then closes the gap
    _anchor: tuple[float, float] = (0.0, 0.0)  # (raw fraction, shown fraction) at the last revision
    _last_raw: float | None = None

    @property
    def step_budget(self) -> float | None:
        for key in STEP_BUDGET_KEYS:
            v = self.config.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                return float(v)
        return None

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        self.events += 1
        if kind == "progress":
            self._progress(int(event.get("done", 0)), int(event.get("total", 0)))
        elif kind == "metric":
            step = event.get("step")
            if isinstance(step, (int, float)) and not isinstance(step, bool):
                self.last_step = float(step)
            if self.series_key and self.series_key in event:
                self.sub_label = str(event[self.series_key])

    def _progress(self, done: int, total: int) -> None:
        """Two levels at most: a lab may report sub-runs (1 of 4) and steps inside each (250 of 600).

        A count whose total is the lab's step budget (its config's `total_steps`…) is the step
        level; any other is the sub-run level. Without a budget, the first total seen is taken
        as the level, and a smaller one arriving later is the outer count."""
        if total <= 0:
            return
        budget = self.step_budget
        inner = (budget is not None and total == int(budget)) or (self.inner_total and total == self.inner_total)
        if not inner and budget is None and self.total and total > self.total:
            inner = True  # a bigger count under a known one: steps inside it
        if not inner and budget is None and self.total and total < self.total and not self.inner_total:
            self.inner_done, self.inner_total = 0, self.total  # what we had was the step level
        if inner:
            if done < self.inner_done and not self.total:
                self.sub_runs += 1  # steps started over with no outer count: a new sub-run
            self.inner_done, self.inner_total = done, total
            return
        if self.total and done < self.done:
            self.sub_runs += 1  # it started over: a new sub-run, not a step back
        if done != self.done or not self.total:
            self.inner_done = 0  # the next sub-run starts from its own step 0
            self.last_step = None
        self.done, self.total = done, total

    def fraction(self) -> float | None:
        """0..1 for the whole lab as the bar shows it: never lower than before, or None while the
        lab has said nothing measurable yet.

        The estimate itself (`raw_fraction`) can fall when the lab reveals more work than it had
        said, e.g. the first sub-run's steps with no count of sub-runs and no previous run to time
        against, then "1 of 4". Then the bar holds where it was and grows over the remaining work:
        shown = s0 + (1 - s0) * (raw - r0) / (1 - r0), reaching 100 % exactly when the lab does. The
        ETA and `finishing…` read the raw estimate, so they stay honest while the bar catches up."""
        raw = self.raw_fraction()
        if raw is None:
            return None if self._last_raw is None else self._shown(self._last_raw)
        if self._last_raw is not None and raw < self._last_raw:
            self._anchor = (raw, self._shown(self._last_raw))
        self._last_raw = raw
        return self._shown(raw)

    def _shown(self, raw: float) -> float:
        r0, s0 = self._anchor
        if raw <= r0 or r0 >= 1.0:
            return s0
        return min(1.0, s0 + (1.0 - s0) * (raw - r0) / (1.0 - r0))

    def raw_fraction(self) -> float | None:
        """The current best estimate, 0..1, from the lab's counts and steps (may fall on new information)."""
        within = None
        if self.inner_total:
            within = self.inner_done / self.inner_total
        budget = self.step_budget
        if budget and self.last_step is not None:
            within = max(within or 0.0, (self.last_step + 1) / budget)
        if within is not None:
            within = min(1.0, within)
        if self.total > 0:
            frac = self.done / self.total
            if within is not None and self.done < self.total:
                frac += within / self.total  # the sub-run in flight
            return min(1.0, frac)
        if within is not None and self.previous_wall and self.events:
            # Steps but no sub-run count yet: this may be the first of several sub-runs, so do not
            # let the bar reach 100 % sooner than the last whole run took (it would fall back later).
            return min(within, 0.99 * min(1.0, self.elapsed() / self.previous_wall))
        return within

    def elapsed(self, now: float | None = None) -> float:
        return (now or time.monotonic()) - self.started

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left, or None when there is nothing to base it on."""
        elapsed = self.elapsed(now)
        frac = self.raw_fraction()
        if frac is not None and frac >= TRUST_FRACTION:
            return max(0.0, elapsed / frac - elapsed)
        if self.previous_wall:
            return max(0.0, self.previous_wall - elapsed)
        return None

    def stage(self) -> str:
        """`starting…` before the first event, `finishing…` at 100 % while the lab still works."""
        if self.events == 0:
            return "starting…"
        frac = self.raw_fraction()
        if frac is not None and frac >= 1.0:
            return "finishing…"
        return ""

    def label(self) -> str:
        """`2 of 4 · scale` — which sub-run of the lab is running (empty for a one-part lab)."""
        parts = []
        if self.total > 1 and self.done < self.total:
            parts.append(f"{self.done + 1} of {self.total}")
        elif self.sub_runs:
            parts.append(f"sub-run {self.sub_runs + 1}")
        if self.sub_label:
            parts.append(self.sub_label)
        return " · ".join(parts)


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def bar(fraction: float, width: int = 10) -> str:
    filled = round(width * max(0.0, min(1.0, fraction)))
    return "█" * filled + "░" * (width - filled) + f" {100 * fraction:3.0f}%"


def summary(p: RunProgress, now: float | None = None, width: int = 10) -> str:
    """The one line both front ends print: `███░░ 30% · 2 of 4 · scale · ETA 40 s`."""
    parts = []
    stage = p.stage()
    frac = p.fraction()
    if frac is not None:
        parts.append(bar(frac, width))
    label = p.label()
    if label:
        parts.append(label)
    if stage:
        parts.append(stage)
    eta = p.eta(now)
    if eta is not None and stage != "finishing…":
        parts.append(f"ETA {fmt_seconds(eta)}")
    return " · ".join(parts)


def previous_wall(conn: Any, target: str) -> float | None:
    """Wall time of the newest passed/failed run of `target` in the index, for the first ETA."""
    try:
        row = conn.execute(
            "SELECT wall_seconds FROM runs WHERE target = ? AND status IN ('passed', 'failed')"
            " ORDER BY started_at DESC LIMIT 1", (target,)).fetchone()
    except Exception:  # noqa: BLE001 - no index yet, or an older schema: no estimate
        return None
    return float(row[0]) if row and row[0] else None
