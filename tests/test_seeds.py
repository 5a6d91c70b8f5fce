"""`--seed` is honoured: a lab that draws random numbers gives different results for different
seeds; a lab whose results cannot depend on the seed says `seeded: false` and the manifest says so.

Before: phase-18/lab-01 ignored --seed (seeds 7 and 8 trained identical weights while the manifest
recorded the seed given). The fast test runs a representative subset in quick mode (phase 18 with
a few steps); the slow one sweeps every ready lab that runs on this machine."""

from __future__ import annotations

import json

import pytest

from tests import labkit
from workbench.runner.call import call_lab
from workbench.runner.session import skip_reason

SHORT_18 = ("scheduler.total_steps=12", "scheduler.warmup_steps=2", "training.val_every=6")
SUBSET = [("phase-07/lab-02", ()), ("phase-08/lab-03", ()), ("phase-02/lab-03", ())]


def _results(target: str, seed: int, sets: tuple[str, ...] = ()) -> str:
    """The results outside the lab's `measured` keys: a timing always moves, seed or not."""
    req = labkit.request(target, True, sets, seed)
    return json.dumps(labkit.unmeasured(call_lab(req).result, req.measured), sort_keys=True)


@pytest.mark.parametrize(("target", "sets"), SUBSET, ids=[t for t, _ in SUBSET])
def test_two_seeds_give_different_results(target: str, sets: tuple[str, ...]) -> None:
    assert _results(target, 7, sets) != _results(target, 8, sets), f"{target} ignores --seed"


def test_phase_18_first_run_follows_the_seed() -> None:
    first = _results("phase-18/lab-01", 7, SHORT_18)
    assert first == _results("phase-18/lab-01", 7, SHORT_18), "same seed, same results"
    assert first != _results("phase-18/lab-01", 8, SHORT_18), "phase-18/lab-01 ignores --seed"


def _seeded_labs() -> list[str]:
    out = []
    for phase in sorted(labkit.catalog().phases.values(), key=lambda p: p.id):
        for lab in phase.labs:
            if lab.status == "ready" and lab.entry and lab.seeded:
                out.append(f"{phase.key}/{lab.id}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("target", _seeded_labs())
def test_every_seeded_lab_honours_the_seed(target: str) -> None:
    req = labkit.request(target, True, (), 7)
    if skip_reason(req):
        pytest.skip(skip_reason(req))
    assert _results(target, 7) != _results(target, 8), f"{target} gives the same results for seeds 7 and 8: honour cfg['seed'] or declare seeded: false"
