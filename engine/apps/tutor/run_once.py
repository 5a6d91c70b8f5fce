"""`python -m engine.apps.tutor.run_once CONFIG.json OUT_DIR`: one demo, narrated to stdout (what
phase-39 lab-04 records under asciinema). Exit 0 when every acceptance row passed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.apps.tutor.demo import DemoConfig, run_demo


def main(cfg_path: str, out: str) -> int:
    cfg = DemoConfig.from_config(json.loads(Path(cfg_path).read_text(encoding="utf-8")))
    ev = run_demo(Path(out), cfg, on_event=lambda r: print(f"[{r['line']:>2}] {r['block']:<10} {r['msg']}", flush=True))
    return 0 if ev["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
