"""Checkpoints that capture all five state machines of a training run, without pickle (phase 18).

One directory per checkpoint:
    weights.safetensors   model parameters (the tied head is the embedding: stored once, with a
                          header alias `lm_head.weight -> E`)
    optim.safetensors     AdamW m, v and step count per parameter name
    extra.json            scheduler step, data-iterator state (epoch, position, order, RNG), the
                          training RNG's bit_generator state, model and optimiser configs
    manifest.json         schema version, step, sha256 of the weights file
Every file is written to `<name>.tmp` and renamed with os.replace, so an interrupted save leaves
the previous checkpoint intact; stale .tmp files are removed on the next save.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from engine.core.tensorfile import dumps
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.train.loop import TrainState

SCHEMA_VERSION = "1.0"
FILES = ("weights.safetensors", "optim.safetensors", "extra.json", "manifest.json")


def _atomic_bytes(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _atomic_json(path: Path, obj: Any) -> None:
    _atomic_bytes(path, lambda p: p.write_text(json.dumps(obj, indent=1, sort_keys=True), encoding="utf-8"))


def save_checkpoint(state: TrainState, out_dir: str | Path, metrics: dict[str, float] | None = None) -> str:
    """Write the five state machines; return the sha256 of weights.safetensors."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.tmp"):
        stale.unlink()
    params = {n: np.ascontiguousarray(p.data) for n, p in state.opt.named}
    _atomic_bytes(out / "weights.safetensors",
                  lambda p: p.write_bytes(dumps(params, {"lm_head.weight": "ALIAS(E)"})))
    optim = {k: np.ascontiguousarray(v) for k, v in state.opt.state_arrays().items()}
    _atomic_bytes(out / "optim.safetensors", lambda p: p.write_bytes(dumps(optim)))
    extra = {"scheduler": {"step": state.step}, "data_iter": state.data.state_dict(),
             "train_rng": state.rng.bit_generator.state, "model_config": state.model.cfg.to_dict(),
             "opt_config": state.opt_cfg}
    _atomic_json(out / "extra.json", extra)
    sha = hashlib.sha256((out / "weights.safetensors").read_bytes()).hexdigest()
    _atomic_json(out / "manifest.json", {"schema_version": SCHEMA_VERSION, "step": state.step,
                                         "weights_sha256": sha, "metrics": metrics or {}})
    return sha


def load_checkpoint(in_dir: str | Path) -> dict[str, Any]:
    """Read a checkpoint directory into plain arrays and dicts (schema checked first)."""
    d = Path(in_dir)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{d}: checkpoint schema {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return {"weights": load_file(str(d / "weights.safetensors")), "optim": load_file(str(d / "optim.safetensors")),
            "extra": json.loads((d / "extra.json").read_text(encoding="utf-8")), "manifest": manifest}


def load_model(in_dir: str | Path, **overrides: Any) -> MiniGPT:
    """Just the model, for inference (config overrides such as context_len for RoPE models)."""
    ck = load_checkpoint(in_dir)
    cfg = MiniGPTConfig.from_dict({**ck["extra"]["model_config"], **overrides})
    model = MiniGPT(cfg)
    for name, p in model.named_parameters():
        p.data[...] = ck["weights"][name]
    return model


def apply_checkpoint(ck: dict[str, Any], state: TrainState) -> None:
    """Restore every state machine in place (RNG via bit_generator.state, never by re-seeding)."""
    for name, p in state.opt.named:
        p.data[...] = ck["weights"][name]
    state.opt.load_state_arrays(ck["optim"])
    state.step = int(ck["extra"]["scheduler"]["step"])
    state.data.load_state_dict(ck["extra"]["data_iter"])
    state.rng.bit_generator.state = ck["extra"]["train_rng"]


def state_fingerprint(state: TrainState) -> dict[str, bytes]:
    """Bytes of each state machine, for byte-equality comparisons."""
    return {
        "model": b"".join(p.data.tobytes() for _, p in state.opt.named),
        "optimizer": b"".join(k.encode() + v.tobytes() for k, v in sorted(state.opt.state_arrays().items())),
        "scheduler": str(state.step).encode(),
        "data_iter": json.dumps(state.data.state_dict(), sort_keys=True).encode(),
        "train_rng": json.dumps(state.rng.bit_generator.state, sort_keys=True).encode(),
    }


__all__ = ["FILES", "apply_checkpoint", "load_checkpoint", "load_model", "save_checkpoint",
           "state_fingerprint"]
