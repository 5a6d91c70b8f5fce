"""Parameter and training-memory counts for full fine-tuning, LoRA and QLoRA, from the model config.

Bytes per trained parameter under mixed-precision Adam: FP16 weight 2 + FP32 master 4 + FP16
gradient 2 + Adam m and v in FP32 8 = 16. A frozen base costs only its storage: 2 bytes per
weight in FP16, or 0.5 byte per NF4 code plus its scale (one per 64 weights: 2/64 byte with
FP16 scales, 4/64 with the FP32 scales the course's 0.56 N figure assumes).
"""

from __future__ import annotations

from engine.lm.models.gpt import MiniGPTConfig


def linear_shapes(cfg: MiniGPTConfig) -> list[tuple[int, int]]:
    """(d_out, d_in) of the twelve LoRA targets: 4 attention projections and 2 FFN layers per block."""
    d, f = cfg.d_model, cfg.d_ff
    return [(d, d)] * 4 * cfg.n_layer + [(f, d), (d, f)] * cfg.n_layer


def base_params(cfg: MiniGPTConfig) -> int:
    d = cfg.d_model
    linears = sum(o * i for o, i in linear_shapes(cfg)) + (cfg.d_ff + d) * cfg.n_layer
    return linears + cfg.vocab_size * d + 2 * d * (2 * cfg.n_layer + 1)


def lora_params(cfg: MiniGPTConfig, r: int) -> int:
    return sum(r * (o + i) for o, i in linear_shapes(cfg))


def regime(name: str, cfg: MiniGPTConfig, r: int = 0, base_bytes_per_param: float = 2.0,
           batch: int = 16, seq: int = 32) -> dict[str, float]:
    n, n_l = base_params(cfg), lora_params(cfg, r)
    trainable = n if r == 0 else n_l
    frozen = 0 if r == 0 else n
    weights = (6.0 * n) if r == 0 else base_bytes_per_param * n + 6.0 * n_l  # FP16 copy + FP32 master
    grads, adam = 2.0 * trainable, 8.0 * trainable
    acts = float(batch * seq * cfg.d_model * cfg.n_layer * 16)
    return {"regime": name, "trainable": trainable, "frozen": frozen, "weights_bytes": weights,
            "grads_bytes": grads, "adam_bytes": adam, "activation_bytes": acts,
            "total_bytes": weights + grads + adam + acts}


def nf4_bytes_per_param(group: int = 64, scale_bytes: int = 2) -> float:
    return 0.5 + scale_bytes / group
