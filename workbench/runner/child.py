"""The lab process: `python -m workbench.runner <run_dir>`.

It reads `request.json` and calls the entry through workbench.runner.call.invoke (the one
way a lab is called: seeding, strict config, JSON result) with a JsonlRecorder. The
original stdout becomes the event stream (one JSON object per line) and fd 1 is pointed
at stderr, so anything the lab or a C library prints lands in stderr.log, never in the
stream. Exit codes: 0 done, 3 the lab raised, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO


def _event(stream: TextIO, **event: Any) -> None:
    stream.write(json.dumps(event, separators=(",", ":")) + "\n")
    stream.flush()


def main(run_dir: str) -> int:
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)

    from engine.core.atomic import write_json
    from engine.core.run import JsonlRecorder
    from workbench.runner.call import invoke

    out = Path(run_dir)
    request = json.loads((out / "request.json").read_text(encoding="utf-8"))
    cfg = request["config"]
    rec = JsonlRecorder(out, events=events)
    try:
        entry = request["entry"]
        if request.get("exercise"):  # the learner's slots replace the reference's (docs/EXERCISES.md)
            from workbench.exercises.substitute import prepare

            entry = prepare(entry, request["exercise"])
        result = invoke(entry, cfg, rec)
        write_json(out / "results.json", result)
        _event(events, type="result", result=result)
        return 0
    except KeyboardInterrupt:
        _event(events, type="cancelled")
        return 130
    except BaseException as exc:  # noqa: BLE001 - the lab's failure is reported, not re-raised
        traceback.print_exc()
        _event(events, type="error", error=f"{type(exc).__name__}: {exc}")
        return 3
    finally:
        rec.close()
        sys.stdout.flush()
        sys.stderr.flush()
