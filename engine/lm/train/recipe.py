"""The phase-18 training recipe in one call, and a cached trained checkpoint for later phases.

    run = train_minigpt(config, log=rec.log)     # config shaped like phase 18's lab-01 YAML (deep-merged over FULL)
    model, tok = cached_minigpt(quick=True)       # phases 18-22: train once, reuse the checkpoint

`config` keys: model {n_layers, n_heads, d_model, d_ff, context_len, vocab_size}, optimizer
{lr_max, lr_min, beta1, beta2, eps, weight_decay, clip}, scheduler {warmup_steps, total_steps},
training {batch_size, val_every, log_every, rng_seed, data_seed}, heldout_verbs.
The cache lives in engine.core.cachefile.cache_root() ($LYNX_CACHE, default ~/.cache/lynx-workbench),
one directory per hash of the config and of the training code, so a changed recipe never reuses a stale model.
Training is deterministic for a given config on one machine, so a cached model is the model a fresh run
would produce.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.cachefile import cache_root
from engine.core.threads import blas_threads
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.train.data import HELDOUT_VERBS, CharTokenizer, held_out_split, load_corpus
from engine.lm.train.loop import TrainState, evaluate, train

FULL: dict[str, Any] = {
    "model": {"n_layers": 2, "n_heads": 4, "d_model": 64, "d_ff": 256, "context_len": 32, "vocab_size": 64},
    "optimizer": {"lr_max": 3e-4, "lr_min": 3e-5, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1,
                  "clip": 1.0},
    "scheduler": {"warmup_steps": 100, "total_steps": 1000},
    "training": {"batch_size": 8, "val_every": 50, "log_every": 10, "rng_seed": 42, "data_seed": 7},
}
QUICK: dict[str, Any] = {**FULL, "optimizer": {**FULL["optimizer"], "lr_max": 1e-3, "lr_min": 1e-4},
                         "scheduler": {"warmup_steps": 30, "total_steps": 300}}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def model_config(config: dict[str, Any]) -> MiniGPTConfig:
    m = config["model"]
    return MiniGPTConfig(d_model=int(m["d_model"]), n_heads=int(m["n_heads"]), n_layers=int(m["n_layers"]),
                         d_ff=int(m["d_ff"]), vocab_size=int(m.get("vocab_size", 64)),
                         context_len=int(m["context_len"]), causal=bool(m.get("causal", True)))


def datasets(config: dict[str, Any]) -> dict[str, Any]:
    tok = CharTokenizer(int(config["model"].get("vocab_size", 64)))
    train_ex, val_ex = held_out_split(load_corpus(), config.get("heldout_verbs", HELDOUT_VERBS))
    return {"tok": tok, "train_ex": train_ex, "val_ex": val_ex,
            "train": [tok.encode(e.text) for e in train_ex], "val": [tok.encode(e.text) for e in val_ex]}


def make_state(config: dict[str, Any], train_seqs: list[list[int]]) -> TrainState:
    o, s, t = config["optimizer"], config["scheduler"], config["training"]
    opt_cfg = {**o, "warmup_steps": int(s["warmup_steps"]), "total_steps": int(s["total_steps"])}
    return TrainState.create(model_config(config), opt_cfg, train_seqs, int(t["batch_size"]), int(t["data_seed"]),
                             int(t["rng_seed"]))


def train_minigpt(config: dict[str, Any], log: Callable[..., None] | None = None,
                  on_step: Callable[..., None] | None = None) -> dict[str, Any]:
    """Train per `config`; returns {state, data, history, train_loss, val_loss}."""
    config = deep_merge(FULL, config)
    data = datasets(config)
    state = make_state(config, data["train"])
    t = config["training"]
    with blas_threads(1):
        hist = train(state, int(config["scheduler"]["total_steps"]), data["val"], int(t["val_every"]),
                     int(t["log_every"]), log, on_step)
        train_loss, _ = evaluate(state.model, data["train"])
        val_loss, _ = evaluate(state.model, data["val"])
    return {"state": state, "data": data, "history": hist, "train_loss": train_loss, "val_loss": val_loss,
            "config": config}


def _code_hash() -> str:
    here = Path(__file__).resolve().parent
    files = sorted(here.glob("*.py")) + [here.parent / "models" / "gpt.py"]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def cache_dir(config: dict[str, Any]) -> Path:
    root = cache_root()
    key = hashlib.sha256((json.dumps(config, sort_keys=True) + _code_hash()).encode()).hexdigest()[:16]
    return root / f"minigpt-{key}"


def cached_minigpt(quick: bool = True, **model_overrides: Any) -> tuple[MiniGPT, CharTokenizer, Path]:
    """The phase-18 model trained with the QUICK or FULL recipe, from cache or trained now."""
    from engine.core.cachefile import load_cached
    from engine.lm.train.checkpoint import load_model, save_checkpoint

    config = QUICK if quick else FULL
    d = cache_dir(config)
    model = load_cached(d, lambda p: load_model(p, **model_overrides)) if (d / "manifest.json").exists() else None
    if model is not None:
        return model, CharTokenizer(int(config["model"]["vocab_size"])), d
    # not cached, or the cache was corrupt and has been moved aside: train and cache it
    run = train_minigpt(config)
    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    save_checkpoint(run["state"], tmp, {"train_loss": run["train_loss"], "val_loss": run["val_loss"]})
    try:
        os.replace(tmp, d)
    except OSError:  # another process won the race; its checkpoint is the same model
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return load_model(d, **model_overrides), CharTokenizer(int(config["model"]["vocab_size"])), d
