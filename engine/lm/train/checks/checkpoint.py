"""A checkpoint resumes bit for bit and survives an interrupted save (engine.lm.train.checkpoint)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

from engine.lm.train.checkpoint import apply_checkpoint, load_checkpoint, save_checkpoint, state_fingerprint
from engine.lm.train.loop import TrainState, train_step
from engine.lm.train.recipe import deep_merge, make_state


def resume_vs_continuous(config: dict[str, Any], train: list[list[int]], n: int,
                         path: Path) -> tuple[TrainState, dict[str, bool], list[float], list[float]]:
    """2n steps in one go against n steps, save to `path`, load into a state built with other seeds, n more.
    Returns (the first run's state after n steps, byte equality per state machine, continuous losses,
    resumed losses)."""
    cont = make_state(config, train)
    losses_cont = [train_step(cont)["loss"] for _ in range(2 * n)]
    first = make_state(config, train)
    losses = [train_step(first)["loss"] for _ in range(n)]
    save_checkpoint(first, path)
    resumed = make_state(deep_merge(config, {"training": {"rng_seed": 1, "data_seed": 2}}), train)
    apply_checkpoint(load_checkpoint(path), resumed)
    fa, fb = state_fingerprint(first), state_fingerprint(resumed)
    equal = {k: fa[k] == fb[k] for k in fa}
    losses += [train_step(resumed)["loss"] for _ in range(n)]
    return first, equal, losses_cont, losses


def interrupted_save_is_harmless(state: TrainState, path: Path, step: int) -> bool:
    """A save into an existing checkpoint whose first rename is interrupted leaves the old weights byte-equal
    and loadable (at `step`); the next save removes the stale .tmp files."""
    before = (path / "weights.safetensors").read_bytes()
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt("simulated interrupt during rename")
        real_replace(src, dst)

    interrupted = False
    with mock.patch("engine.lm.train.checkpoint.os.replace", flaky):
        try:
            save_checkpoint(state, path)
        except KeyboardInterrupt:
            interrupted = True
    after = (path / "weights.safetensors").read_bytes()
    reloadable = load_checkpoint(path)["manifest"]["step"] == step
    save_checkpoint(state, path)
    stale = list(path.glob("*.tmp"))
    return interrupted and before == after and reloadable and not stale


def manifest_matches_weights(path: Path) -> bool:
    """The manifest's weights_sha256 is the sha256 of weights.safetensors."""
    want = json.loads((path / "manifest.json").read_text())["weights_sha256"]
    return bool(want == hashlib.sha256((path / "weights.safetensors").read_bytes()).hexdigest())
