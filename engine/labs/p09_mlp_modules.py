"""Phase 09 labs: Module/Parameter tour, an optimizer race, and a tense MLP whose GELU matters.

Fault `gelu_identity` (the phase's break): the GELU module returns its input, so the
network collapses to one linear map. The task includes subject-verb agreement errors
("I works" vs "he works"), an XOR of pronoun and ending that no linear model can fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._tense_data import Split, phrase_dataset
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.nn import GELU, Identity, Linear, Module, ReLU, Sequential
from engine.scratch.nn.fit import fit_full_batch
from engine.scratch.optim import SGD, Adam, AdamW, Optimizer

FAULT = "gelu_identity"


def _activation(cfg: dict) -> Module:
    return Identity() if cfg.get("fault") == FAULT else GELU()


def _parity() -> Any | None:
    """engine.torchstack.parity, or None where torch is not installed (the tour then skips its torch checks)."""
    try:
        from engine.torchstack import parity
    except ImportError:
        return None
    return parity


def modules_tour(cfg: dict, rec: Recorder) -> dict:
    """Lab 01: registration order, safetensors round trip, Linear -> GELU -> Linear by hand vs torch."""
    rng = np.random.default_rng(cfg["seed"])
    seq = Sequential(Linear(2, 3, rng=rng), ReLU(), Linear(3, 1, rng=rng))
    shapes = [list(p.shape) for p in seq.parameters()]
    path = rec.artifact("tiny.safetensors", "checkpoint")
    seq.save(path)
    twin = Sequential(Linear(2, 3, rng=rng), ReLU(), Linear(3, 1, rng=rng))
    twin.load(path)
    roundtrip = all(np.array_equal(a, b) for a, b in zip(seq.state_dict().values(), twin.state_dict().values(), strict=True))

    # worked example: x (2, 3) -> Linear(3, 4) -> GELU -> Linear(4, 2) -> cross-entropy, float64
    x = rng.normal(size=(2, 3))
    y = np.array([1, 0])
    fc1, fc2 = Linear(3, 4, rng=rng, dtype=np.float64), Linear(4, 2, rng=rng, dtype=np.float64)
    act = _activation(cfg)
    z1 = fc1(Tensor(x))
    h = act(z1)
    logits = fc2(h)
    loss = cross_entropy(logits, y)
    loss.backward()
    rec.note(f"worked example: z1 = {np.round(z1.data, 4).tolist()}, h = {np.round(h.data, 4).tolist()}, "
             f"loss = {loss.item():.6f}, dL/dW1 shape = {fc1.weight.grad.shape}")
    result: dict[str, Any] = {
        "param_shapes": shapes,
        "n_param_tensors": len(shapes),
        "roundtrip_ok": roundtrip,
        "worked_loss": loss.item(),
        "w1_grad_shape": list(fc1.weight.grad.shape),
    }
    parity = _parity()
    if parity is not None:
        err = parity.mlp_vs_torch(fc1, fc2, x, y, loss.item())  # torch always uses GELU
        result |= {
            "worked_max_err": err,
            "worked_matches_torch": err < 1e-9,
            "adam_vs_torch_err": parity.optimizer_vs_torch("adam"),
            "sgd_momentum_vs_torch_err": parity.optimizer_vs_torch("sgd"),
            **{f"{k}_vs_torch_err": parity.optimizer_vs_torch(k) for k in ("adam_l2", "adamw", "sgd_wd")},
            **parity.mse_and_init_vs_torch(rng),
        }
    return result


def _mlp(d: int, hidden: int, k: int, act: Module, seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Linear(d, hidden, rng=rng), act, Linear(hidden, k, rng=rng))


def _accuracy(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    with no_grad():
        return float((model(Tensor(x)).data.argmax(1) == y).mean())


def _fit(model: Module, opt: Optimizer, data: Split, epochs: int, rec: Recorder, tag: dict[str, str],
         log_every: int = 1) -> tuple[float, int | None]:
    """Full-batch training (engine.scratch.nn.fit); returns the final loss and the first epoch with train accuracy >= 0.9."""
    return fit_full_batch(model, opt, data.x_train, data.y_train, epochs, log_every=log_every,
                          log=lambda epoch, **m: rec.log(epoch, **m, **tag))


def optimizer_race(cfg: dict, rec: Recorder) -> dict:
    """Lab 02: SGD, SGD + momentum and Adam from the same initial weights on the same task."""
    data = phrase_dataset(cfg["seed"], with_errors=True)
    d, k = data.x_train.shape[1], len(data.classes)
    hidden, epochs = int(cfg["hidden"]), int(cfg["epochs"])
    racers = {
        "sgd": lambda ps: SGD(ps, lr=float(cfg["sgd_lr"])),
        "momentum": lambda ps: SGD(ps, lr=float(cfg["momentum_lr"]), momentum=0.9),
        "adam": lambda ps: Adam(ps, lr=float(cfg["adam_lr"])),
    }
    out: dict[str, Any] = {}
    for name, make in racers.items():
        model = _mlp(d, hidden, k, _activation(cfg), cfg["seed"])
        final, first_90 = _fit(model, make(list(model.parameters())), data, epochs, rec, {"optimizer": name})
        out[f"{name}_final_loss"] = final
        out[f"{name}_epochs_to_90"] = first_90 if first_90 is not None else -1
        out[f"{name}_train_acc"] = _accuracy(model, data.x_train, data.y_train)
    out["adam_beats_sgd"] = out["adam_final_loss"] < out["sgd_final_loss"]
    return out


def train_tense_mlp(cfg: dict, rec: Recorder) -> dict:
    """Lab 03: Linear -> GELU -> Linear tags tense or agreement error; optionally a linear twin for contrast."""
    data = phrase_dataset(cfg["seed"], val_fraction=float(cfg["val_fraction"]), with_errors=True)
    d, k = data.x_train.shape[1], len(data.classes)
    hidden, epochs = int(cfg["hidden"]), int(cfg["epochs"])

    def make_opt(m: Module) -> Optimizer:
        return AdamW(list(m.parameters()), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))

    label = "identity" if cfg.get("fault") == FAULT else "gelu"
    model = _mlp(d, hidden, k, _activation(cfg), cfg["seed"])
    final, first_90 = _fit(model, make_opt(model), data, epochs, rec, {"activation": label})
    with no_grad():
        val_pred = model(Tensor(data.x_val)).data.argmax(1)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (data.y_val, val_pred), 1)
    ckpt = rec.artifact("tense_mlp.safetensors", "checkpoint")
    model.save(ckpt)
    result: dict[str, Any] = {
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_params": model.num_parameters(),
        "classes": data.classes,
        "final_loss": final,
        "epochs_to_90": first_90 if first_90 is not None else -1,
        "train_acc": _accuracy(model, data.x_train, data.y_train),
        "val_acc": float((val_pred == data.y_val).mean()),
        "confusion_val": confusion.tolist(),
    }
    if cfg["compare_linear"] and label == "gelu":
        twin = _mlp(d, hidden, k, Identity(), cfg["seed"])
        twin_final, _ = _fit(twin, make_opt(twin), data, epochs, rec, {"activation": "identity"})
        result |= {
            "linear_final_loss": twin_final,
            "linear_train_acc": _accuracy(twin, data.x_train, data.y_train),
            "linear_val_acc": _accuracy(twin, data.x_val, data.y_val),
        }
        result["gain_over_linear"] = result["train_acc"] - result["linear_train_acc"]
    return result
