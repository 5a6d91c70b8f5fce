"""A spending guard for paid compute: every operation is authorized against a dollar ceiling
before it runs, and every authorization and spend is appended to a JSON-lines log.

Why: a forgotten cloud instance costs more than the whole course; the guard refuses first and
the append-only log lets a person audit what was spent. No network calls happen here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ENV_CEILING = "LYNX_BUDGET_USD"


class BudgetExceeded(RuntimeError):
    """The estimated cost would take total spend past the ceiling."""


class BudgetGuard:
    def __init__(self, ceiling_usd: float, log_path: str | Path) -> None:
        env = os.environ.get(ENV_CEILING)
        self.ceiling = float(env) if env else float(ceiling_usd)
        self.log_path = Path(log_path)
        self.spent = sum(e["usd"] for e in self.entries() if e["kind"] == "spend")

    def entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def _append(self, **event: object) -> None:
        with self.log_path.open("a") as f:  # append only: earlier lines are never rewritten
            f.write(json.dumps({"t": round(time.time(), 3), **event}) + "\n")

    def authorize(self, op: str, estimate_usd: float) -> None:
        if self.spent + estimate_usd > self.ceiling:
            self._append(kind="refused", op=op, usd=float(estimate_usd))
            raise BudgetExceeded(f"{op}: ${estimate_usd:.2f} on top of ${self.spent:.2f} exceeds ${self.ceiling:.2f}")
        self._append(kind="authorized", op=op, usd=float(estimate_usd))

    def record(self, op: str, actual_usd: float) -> None:
        self.spent += float(actual_usd)
        self._append(kind="spend", op=op, usd=float(actual_usd))
