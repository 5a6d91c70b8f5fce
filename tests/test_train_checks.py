"""engine.lm.train.checks: each check passes on the real code and fails on a broken copy of it
(clipping that does not scale, a resume that forgets the optimiser, a save without the rename)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.lm.train import checkpoint as C
from engine.lm.train.checks import checkpoint as K
from engine.lm.train.checks import clip
from engine.lm.train.loop import train_step
from engine.lm.train.recipe import FULL, datasets, deep_merge, make_state

CONFIG = deep_merge(FULL, {"scheduler": {"warmup_steps": 2, "total_steps": 8}})


@pytest.fixture(scope="module")
def train() -> list[list[int]]:
    return datasets(CONFIG)["train"]


def test_clip_closed_form(monkeypatch: pytest.MonkeyPatch) -> None:
    assert clip.clip_closed_form_error() < 1e-12

    def no_scale(params: list, max_norm: float) -> float:
        return float(np.sqrt(sum(float((p.grad ** 2).sum()) for p in params)))

    monkeypatch.setattr(clip, "clip_grad_norm_", no_scale)
    assert clip.clip_closed_form_error() > 0.5


def test_resume_matches_continuous_and_catches_a_lost_optimizer(tmp_path: Path, train: list[list[int]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first, equal, cont, resumed = K.resume_vs_continuous(CONFIG, train, 2, tmp_path / "a")
    assert all(equal.values()) and len(equal) == 5 and resumed == cont and first.step == 2
    real = K.apply_checkpoint

    def forget_optimizer(ck: dict, state: object) -> None:
        real(ck, state)
        state.opt.load_state_arrays({k: np.zeros_like(v) for k, v in state.opt.state_arrays().items()})  # type: ignore[attr-defined]

    monkeypatch.setattr(K, "apply_checkpoint", forget_optimizer)
    _, equal2, cont2, resumed2 = K.resume_vs_continuous(CONFIG, train, 2, tmp_path / "b")
    assert not all(equal2.values()) and resumed2 != cont2


def test_interrupted_save_and_manifest(tmp_path: Path, train: list[list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    state = make_state(CONFIG, train)
    train_step(state)
    C.save_checkpoint(state, tmp_path / "ck")
    assert K.manifest_matches_weights(tmp_path / "ck")
    train_step(state)
    assert K.interrupted_save_is_harmless(state, tmp_path / "ck", 1)
    assert C.load_checkpoint(tmp_path / "ck")["manifest"]["step"] == 2  # the save after it went through
    C.save_checkpoint(make_state(CONFIG, train), tmp_path / "ck2")
    fresh = make_state(CONFIG, train)
    train_step(fresh)
    assert K.interrupted_save_is_harmless(fresh, tmp_path / "ck2", 0)

    def in_place(path: Path, write: object) -> None:  # no temp file: the interrupt lands mid-file
        write(path)  # type: ignore[operator]
        C.os.replace(path, path)

    monkeypatch.setattr(C, "_atomic_bytes", in_place)
    C.save_checkpoint(make_state(CONFIG, train), tmp_path / "ck3")
    assert not K.interrupted_save_is_harmless(state, tmp_path / "ck3", 0)  # state: 2 steps, new weights
    (tmp_path / "ck3" / "weights.safetensors").write_bytes(b"x")
    assert not K.manifest_matches_weights(tmp_path / "ck3")
