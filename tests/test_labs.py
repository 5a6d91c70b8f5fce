"""Every ready lab of the phases below, run in quick mode, passes its hard checks; every break
meets its expectations, and the healthy lab does not show the break's signature.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick`
does. Phases 00-06 and 14-16 have their own files (subprocess runs, timing retries, overrides).
Per-phase extras (determinism, unit checks) stay in tests/test_labs_pNN_*.py.
"""

from __future__ import annotations

import pytest

from tests import labkit

PHASES = (7, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41)
SLOW = {
    "phase-18/break-00", "phase-21/break-00",  # retrain / resample
    "phase-19/lab-02",  # four Mini-GPT trainings and four dashboards: ~30 s
    "phase-26/lab-01", "phase-26/lab-02", "phase-28/lab-02", "phase-28/lab-03",
    "phase-28/break-00",  # trains a rank-0 tutor adapter (600 steps): ~3 min on the shared box
    "phase-23/break-00",  # a timing expectation (strided / contiguous loop order > 3x): no wall clock by default
    "phase-33/lab-05",  # four server processes under load: ~15 s (tests/test_serve_batching.py covers the maths)
    # the capstone demo brings the whole stack up (~15 s a run); tests/test_demo.py runs it once
    "phase-39/lab-00", "phase-39/lab-02", "phase-39/lab-03", "phase-39/lab-04",
    # the spine stages (tokenizer + phase-18 base model): a first build is ~3 min on the shared box, then cached
    "phase-18/lab-05", "phase-20/lab-04", "phase-20/break-01", "phase-21/lab-04", "phase-22/lab-04",
    "phase-30/lab-04",  # builds the phase-28 and phase-30 adapters on a cold cache (minutes), then decodes 50 sentences twice
    "phase-32/lab-05",  # builds the phase-32 planner adapter (minutes on a cold cache), then 40 tasks through the loop
    "phase-29/lab-04",  # builds the phase-29 reader adapter (~3 min on a cold cache), then 30 queries x 3 readers
}
# Labs whose measurement reads a wall clock (hard checks are counted work or robust ratios): marked
# `timing`, so .ci/run re-runs them with both cores kept busy.
TIMING = {"phase-22/lab-03", "phase-30/lab-03", "phase-19/lab-00", "phase-32/lab-01", "phase-34/lab-03",
          "phase-35/lab-01"}


def _timed(params: list) -> list:
    """The same params, with the timing mark on TIMING labs and on breaks of them."""
    out = []
    for p in params:
        lab = p.id.rsplit("/", 1)[0] + "/" + labkit.request(p.id).lab_id if "/break-" in p.id else p.id
        marks = [*p.marks, pytest.mark.timing] if lab in TIMING else list(p.marks)
        out.append(pytest.param(*p.values, id=p.id, marks=marks))
    return out


# Phases whose breaks are checked strictly: the healthy lab meets none of the expectations.
# Elsewhere a break's signature may include something the healthy lab shares ("RNG still agrees").
STRICT = {17, 18, 21, 22, 24, 25, 27, 30, 31, 32, 33, 34, 35, 36, 37, 38}


@pytest.mark.parametrize("target", _timed(labkit.targets(PHASES, "lab", slow=SLOW)))
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", _timed(labkit.targets(PHASES, "break", slow=SLOW)))
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    shared = labkit.symptoms_in_healthy(target)
    strict = int(target[6:8]) in STRICT
    assert not (any(shared) if strict else all(shared)), f"{target}: the healthy lab shows the break's signature {shared}"
