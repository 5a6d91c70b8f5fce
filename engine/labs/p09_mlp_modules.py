"""Phase 09 labs: Module/Parameter tour, an optimizer race, and a tense MLP whose GELU matters.

Fault `gelu_identity` (the phase's break): the GELU module returns its input, so the
network collapses to one linear map. The task includes subject-verb agreement errors
("I works" vs "he works"), an XOR of pronoun and ending that no linear model can fit.
"""

from __future__ import annotations

import math
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


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


OPTIMIZER_CASES: dict[str, tuple[Any, dict[str, float], str]] = {
    "adam": (Adam, {"lr": 1e-2}, "Adam"),
    "adam_l2": (Adam, {"lr": 1e-2, "weight_decay": 0.05}, "Adam"),
    "adamw": (AdamW, {"lr": 1e-2, "weight_decay": 0.1}, "AdamW"),
    "sgd": (SGD, {"lr": 0.01, "momentum": 0.9}, "SGD"),
    "sgd_wd": (SGD, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05}, "SGD"),
}


def _optimizer_vs_torch(torch: Any, kind: str, steps: int = 100) -> float:
    """Max |ours - torch| over `steps` steps on a quadratic in two parameter tensors (5 and 3 entries), float64."""
    rng = np.random.default_rng(5)
    inits, targets = [rng.normal(size=5), rng.normal(size=3)], [rng.normal(size=5), rng.normal(size=3)]
    ours = [Tensor(p0.copy(), requires_grad=True) for p0 in inits]
    theirs = [torch.tensor(p0.copy(), requires_grad=True) for p0 in inits]
    cls, kw, torch_name = OPTIMIZER_CASES[kind]
    opt: Optimizer = cls(ours, **kw)
    topt = getattr(torch.optim, torch_name)(theirs, **kw)
    worst = 0.0
    for _ in range(steps):
        opt.zero_grad()
        sum(((p - Tensor(t)) ** 2).sum() for p, t in zip(ours, targets, strict=True)).backward()
        opt.step()
        topt.zero_grad()
        sum(((p - torch.tensor(t)) ** 2).sum() for p, t in zip(theirs, targets, strict=True)).backward()
        topt.step()
        worst = max(worst, *(float(np.abs(p.data - q.detach().numpy()).max()) for p, q in zip(ours, theirs, strict=True)))
    return worst


def _mse_and_init_vs_torch(torch: Any, rng: np.random.Generator) -> dict[str, float]:
    """MSELoss value and gradient against torch; the Linear init's largest |w| against torch's bound 1/sqrt(fan_in)
    (no torch draws here: the lab's results stay deterministic)."""
    from engine.scratch.nn import MSELoss

    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    x = Tensor(pred.copy(), requires_grad=True)
    loss = MSELoss()(x, Tensor(target))
    loss.backward()
    t = torch.tensor(pred, requires_grad=True)
    tl = torch.nn.functional.mse_loss(t, torch.tensor(target))
    tl.backward()
    lin = Linear(256, 64, rng=rng)  # torch.nn.Linear draws U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    return {"mse_vs_torch_err": max(abs(loss.item() - tl.item()), float(np.abs(x.grad - t.grad.numpy()).max())),
            "init_max_over_torch_bound": float(np.abs(lin.weight.data).max()) * math.sqrt(256)}


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
    torch = _torch()
    if torch is not None:
        tw1, tb1 = torch.tensor(fc1.weight.data, requires_grad=True), torch.tensor(fc1.bias.data, requires_grad=True)
        tw2, tb2 = torch.tensor(fc2.weight.data, requires_grad=True), torch.tensor(fc2.bias.data, requires_grad=True)
        tz = torch.tensor(x) @ tw1.T + tb1
        th = torch.nn.functional.gelu(tz, approximate="tanh")  # the reference always uses GELU
        tloss = torch.nn.functional.cross_entropy(th @ tw2.T + tb2, torch.tensor(y))
        tloss.backward()
        err = abs(loss.item() - tloss.item())
        for ours, theirs in [(fc1.weight, tw1), (fc1.bias, tb1), (fc2.weight, tw2), (fc2.bias, tb2)]:
            err = max(err, float(np.abs(ours.grad - theirs.grad.numpy()).max()))
        result |= {
            "worked_max_err": err,
            "worked_matches_torch": err < 1e-9,
            "adam_vs_torch_err": _optimizer_vs_torch(torch, "adam"),
            "sgd_momentum_vs_torch_err": _optimizer_vs_torch(torch, "sgd"),
            **{f"{k}_vs_torch_err": _optimizer_vs_torch(torch, k) for k in ("adam_l2", "adamw", "sgd_wd")},
            **_mse_and_init_vs_torch(torch, rng),
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
