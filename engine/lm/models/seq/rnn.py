"""Vanilla RNN and GRU in NumPy, run forward by hand and back-propagated through time by hand (phase 14).

API:
    VanillaRNN(vocab_size, d_embed=16, d_hidden=32, seed=42, init_std=0.1)
        h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), logits = W_hy h_T + b_y.
    GRU(...) with the same API:
        z = sigmoid(W_z x + U_z h + b_z)  (update), r = sigmoid(W_r x + U_r h + b_r)  (reset),
        h~ = tanh(W_h x + U_h (r * h) + b_h), h_t = (1 - z) * h_{t-1} + z * h~.
    model.forward(token_ids) -> (final_logits, hidden_states (T, d_hidden)); `trace` keeps x_t and
    the gates of the last call. model.bptt(token_ids, target) -> (loss, dL/dh_t for t = 0..T-1),
    the loss being cross-entropy of the last step's logits against `target`.
    model.autograd_bptt(token_ids, target) -> the same two numbers through engine's Tensor
    autograd (the oracle for the hand-written backward).
Weights are N(0, init_std^2) (the course's "N(0, 0.1)" read as a standard deviation), biases 0,
float64 throughout so that gradients of 1e-30 are still resolved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor, cross_entropy


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Stable logistic: never exponentiates a large positive number."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


class _Recurrent:
    gates: tuple[str, ...] = ()

    def __init__(self, vocab_size: int, d_embed: int = 16, d_hidden: int = 32, seed: int = 42,
                 init_std: float = 0.1) -> None:
        self.vocab_size, self.d_embed, self.d_hidden = vocab_size, d_embed, d_hidden
        rng = np.random.default_rng(seed)
        self.E = rng.normal(0.0, init_std, (vocab_size, d_embed))
        self.params: dict[str, np.ndarray] = {}
        self._init(rng, init_std)
        self.W_hy = rng.normal(0.0, init_std, (vocab_size, d_hidden))
        self.b_y = np.zeros(vocab_size)
        self.trace: dict[str, Any] = {}

    def _init(self, rng: np.random.Generator, std: float) -> None:
        raise NotImplementedError

    def step(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def step_backward(self, dh: np.ndarray, cache: dict[str, np.ndarray]) -> np.ndarray:
        """dL/dh_{t-1} from dL/dh_t (the weight gradients are not needed here)."""
        raise NotImplementedError

    def recurrent_matrix(self) -> np.ndarray:
        raise NotImplementedError

    def step_tensor(self, x: Tensor, h: Tensor, p: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def autograd_bptt(self, token_ids: list[int] | np.ndarray, target: int) -> tuple[float, np.ndarray]:
        p = {k: Tensor(v, requires_grad=True) for k, v in self.params.items()}
        h = Tensor(np.zeros(self.d_hidden))
        hs = []
        for tok in token_ids:
            h = self.step_tensor(Tensor(self.E[int(tok)]), h, p)
            hs.append(h)
        loss = cross_entropy(Tensor(self.W_hy) @ h + Tensor(self.b_y), np.array(target))
        loss.backward()
        return loss.item(), np.array([np.zeros(self.d_hidden) if t.grad is None else t.grad for t in hs])

    def num_parameters(self, include_embedding: bool = False) -> int:
        n = sum(p.size for p in self.params.values()) + self.W_hy.size + self.b_y.size
        return int(n + (self.E.size if include_embedding else 0))

    def forward(self, token_ids: list[int] | np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        h = np.zeros(self.d_hidden) if h0 is None else h0
        hs, caches, xs = [], [], []
        for tok in token_ids:
            x = self.E[int(tok)]
            h, cache = self.step(x, h)
            hs.append(h)
            caches.append(cache)
            xs.append(x)
        self.trace = {"x": np.array(xs), "caches": caches}
        return self.W_hy @ h + self.b_y, np.array(hs)

    def bptt(self, token_ids: list[int] | np.ndarray, target: int) -> tuple[float, np.ndarray]:
        logits, hs = self.forward(token_ids)
        p = _softmax(logits)
        loss = -float(np.log(p[target]))
        dlogits = p.copy()
        dlogits[target] -= 1.0
        dh = self.W_hy.T @ dlogits
        grads = np.zeros_like(hs)
        for t in range(len(hs) - 1, -1, -1):
            grads[t] = dh
            dh = self.step_backward(dh, self.trace["caches"][t])
        return loss, grads


class VanillaRNN(_Recurrent):
    def _init(self, rng: np.random.Generator, std: float) -> None:
        d, e = self.d_hidden, self.d_embed
        self.params = {"W_xh": rng.normal(0.0, std, (d, e)), "W_hh": rng.normal(0.0, std, (d, d)), "b_h": np.zeros(d)}

    def step(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params
        h_new = np.tanh(p["W_xh"] @ x + p["W_hh"] @ h + p["b_h"])
        return h_new, {"h": h_new}

    def step_backward(self, dh: np.ndarray, cache: dict[str, np.ndarray]) -> np.ndarray:
        return self.params["W_hh"].T @ (dh * (1.0 - cache["h"] ** 2))

    def recurrent_matrix(self) -> np.ndarray:
        return self.params["W_hh"]

    def step_tensor(self, x: Tensor, h: Tensor, p: dict[str, Tensor]) -> Tensor:
        return (p["W_xh"] @ x + p["W_hh"] @ h + p["b_h"]).tanh()


class GRU(_Recurrent):
    gates = ("z", "r")

    def _init(self, rng: np.random.Generator, std: float) -> None:
        d, e = self.d_hidden, self.d_embed
        self.params = {}
        for g in ("z", "r", "h"):
            self.params[f"W_{g}"] = rng.normal(0.0, std, (d, e))
            self.params[f"U_{g}"] = rng.normal(0.0, std, (d, d))
            self.params[f"b_{g}"] = np.zeros(d)

    def step(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params
        z = sigmoid(p["W_z"] @ x + p["U_z"] @ h + p["b_z"])
        r = sigmoid(p["W_r"] @ x + p["U_r"] @ h + p["b_r"])
        cand = np.tanh(p["W_h"] @ x + p["U_h"] @ (r * h) + p["b_h"])
        h_new = (1.0 - z) * h + z * cand
        return h_new, {"h_prev": h, "z": z, "r": r, "cand": cand, "h": h_new}

    def step_backward(self, dh: np.ndarray, cache: dict[str, np.ndarray]) -> np.ndarray:
        p = self.params
        h, z, r, cand = cache["h_prev"], cache["z"], cache["r"], cache["cand"]
        dcand_pre = dh * z * (1.0 - cand**2)
        dz_pre = dh * (cand - h) * z * (1.0 - z)
        drh = p["U_h"].T @ dcand_pre
        dr_pre = drh * h * r * (1.0 - r)
        return dh * (1.0 - z) + drh * r + p["U_z"].T @ dz_pre + p["U_r"].T @ dr_pre

    def recurrent_matrix(self) -> np.ndarray:
        return self.params["U_h"]

    def step_tensor(self, x: Tensor, h: Tensor, p: dict[str, Tensor]) -> Tensor:
        z = (p["W_z"] @ x + p["U_z"] @ h + p["b_z"]).sigmoid()
        r = (p["W_r"] @ x + p["U_r"] @ h + p["b_r"]).sigmoid()
        cand = (p["W_h"] @ x + p["U_h"] @ (r * h) + p["b_h"]).tanh()
        return (1.0 - z) * h + z * cand
