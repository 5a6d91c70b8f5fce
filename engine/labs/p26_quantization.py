"""Phase 26 labs: INT8 PTQ, GPTQ on one layer, the Pareto sweep, the GGUF-lite round trip.

All labs quantize the same cached verb-corpus MiniGPT (engine.quant.lm_train, 103,680
parameters) and score it on the same fixed eval split. Fault `int4_global_scale` (the break):
the per-row INT8 scheme becomes one tensor-wide scale without a clamp, at 4 bits for the
attention projections.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from engine.quant import lm_train as lt
from engine.quant import verb_corpus as vc
from engine.quant.gguf_lite import file_size_ratio, read_gguf_lite, write_gguf_lite
from engine.quant.gptq import damped_hessian, gptq_quantize, hessian_loss, rtn_per_group
from engine.quant.minigpt import MiniGPT, linear_names, n_params
from engine.quant.qlinear import QuantizedLinear, calibration_hessians, model_bytes, quantize_model
from engine.quant.quantize import rounding_error_in_steps
from engine.run import Recorder
from engine.threads import torch_threads

FAULT = "int4_global_scale"


def _base(cfg: dict) -> tuple[MiniGPT, list[str]]:
    with torch_threads():
        model = lt.pretrained_minigpt(seed=int(cfg["seed"]))
    return model, [s.text for s in vc.base_split()[1]]


def _ppl(model: nn.Module, texts: list[str]) -> float:
    with torch_threads():
        return lt.perplexity(model, texts)


def _gap(ppl: float, ref: float) -> float:
    return 100.0 * (ppl - ref) / ref


def _qlayers(model: nn.Module) -> list[QuantizedLinear]:
    return [m for m in model.modules() if isinstance(m, QuantizedLinear)]


def _zero_frac(model: nn.Module, bits: int | None = None) -> float:
    layers = [m for m in _qlayers(model) if bits is None or m.bits == bits]
    return sum(int((m.W_int8 == 0).sum()) for m in layers) / max(sum(m.W_int8.numel() for m in layers), 1)


def _broken_scheme(model: nn.Module) -> dict[str, str]:
    """The break's quantize_linear: global scale, no clamp, 4 bits on W_q/k/v/o, 8 elsewhere."""
    return {n: "naive_global4" if ".attn." in n else "naive_global8" for n in linear_names(model)}


# ---------------------------------------------------------------------- lab 00: INT8 PTQ
def int8_ptq(cfg: dict, rec: Recorder) -> dict:
    model, texts = _base(cfg)
    fp32 = _ppl(model, texts)
    out: dict[str, Any] = {"model_params": n_params(model), "fp32_ppl": fp32, "fp32_bytes": model_bytes(model)}
    rec.log(0, stage="schemes", scheme="fp32", ppl=fp32, bytes=out["fp32_bytes"])
    broken = cfg.get("fault") == FAULT
    step_errs = []
    for i, scheme in enumerate(("int8_per_tensor", "int8_per_channel"), start=1):
        spec: str | dict[str, str] = _broken_scheme(model) if broken and scheme == "int8_per_channel" else scheme
        qm = quantize_model(model, spec)
        ppl = _ppl(qm, texts)
        out[f"{scheme}_ppl"], out[f"{scheme}_bytes"] = ppl, model_bytes(qm, scheme)
        out[f"{scheme}_ppl_gap_pct"] = _gap(ppl, fp32)
        if scheme == "int8_per_channel":
            out["zero_code_frac"] = _zero_frac(qm)
            out["zero_code_frac_4bit"] = _zero_frac(qm, bits=4) if broken else _zero_frac(
                quantize_model(model, {n: "per_group_64" for n in linear_names(model) if ".attn." in n},
                               only={n for n in linear_names(model) if ".attn." in n}), bits=4)
            out["min_scales_per_layer"] = min(m.scale.numel() for m in _qlayers(qm))
            out["scale_shapes"] = sorted({str(tuple(m.scale.shape)) for m in _qlayers(qm)})
        if scheme == "int8_per_channel":  # scales rounded up: no weight lies beyond qmax steps, none clipped
            out["max_abs_w_over_scale"] = max(float((m_fp.weight.detach().abs() / m.scale.float()).max())
                                              for m_fp, m in zip((mm for mm in model.modules() if isinstance(mm, nn.Linear)),
                                                                 _qlayers(qm), strict=True))
            out["per_channel_scales_are_rows"] = all(tuple(m.scale.shape) == (m.W_int8.shape[0], 1) for m in _qlayers(qm))
        step_errs += [rounding_error_in_steps(m_fp.weight.detach(), m.W_int8, m.scale, m.bits)
                      for m_fp, m in zip((mm for mm in model.modules() if isinstance(mm, nn.Linear)), _qlayers(qm),
                                         strict=True) if not m.scheme.startswith("naive")]
        rec.log(i, stage="schemes", scheme=scheme, ppl=ppl, bytes=out[f"{scheme}_bytes"],
                ppl_gap_pct=out[f"{scheme}_ppl_gap_pct"])
    out["rounding_error_in_scales"] = max(step_errs)
    pt, pc = out["int8_per_tensor_ppl_gap_pct"], out["int8_per_channel_ppl_gap_pct"]
    out["per_channel_over_per_tensor_gap"] = pc / pt if pt > 0 else (0.0 if pc <= 0 else float("inf"))
    # shape and dtype contract of QuantizedLinear
    lin = model.blocks[0].mlp.fc1
    x = torch.randn(3, 5, lin.in_features)
    y_ref, y_q = lin(x), QuantizedLinear(lin, "int8_per_channel")(x)
    out["output_dtype_matches"] = bool(y_q.dtype == y_ref.dtype and y_q.shape == y_ref.shape)
    # byte shares of the INT8 per-channel model
    qm = quantize_model(model, "int8_per_channel")
    lin_b = sum(m.nbytes() for m in _qlayers(qm))
    emb_b = model.tok.weight.numel() * 2
    ln_b = sum(p.numel() * 4 for n, p in qm.named_parameters() if ".ln" in n or n.startswith("ln_"))
    total = lin_b + emb_b + ln_b
    out.update(byte_share_linear=lin_b / total, byte_share_embedding=emb_b / total, byte_share_layernorm=ln_b / total)
    # one layer at a time
    sens_scheme = str(cfg["sensitivity_scheme"])
    worst, worst_gap = "", -1e9
    for j, name in enumerate(linear_names(model)):
        ppl = _ppl(quantize_model(model, sens_scheme, only={name}), texts)
        gap = _gap(ppl, fp32)
        rec.log(j, stage="sensitivity", layer=name.replace("blocks.", "b").replace("attn.", "").replace("mlp.", ""),
                ppl_gap_pct=gap)
        if gap > worst_gap:
            worst, worst_gap = name, gap
        rec.progress(j + 1, 12)
    out.update(sensitivity_scheme=sens_scheme, most_sensitive_layer=worst, most_sensitive_gap_pct=worst_gap)
    rec.note(f"FP32 PPL {fp32:.4f}; per-tensor gap {pt:.3f} %, per-channel gap {pc:.3f} %; "
             f"zero codes {out['zero_code_frac']:.1%}; scale shapes {out['scale_shapes']}")
    return out


# ---------------------------------------------------------------------- lab 01: GPTQ toy
def _gptq_case(W: torch.Tensor, X: torch.Tensor, cfg: dict) -> dict[str, Any]:
    H = damped_hessian(X, float(cfg["damp_frac"]))
    H_true = X.double() @ X.double().t() / X.shape[1]
    bits, g = int(cfg["bits"]), int(cfg["group_size"])
    rtn = rtn_per_group(W, bits, g)
    t0 = time.perf_counter()
    gq = gptq_quantize(W, H, bits, g, int(cfg["block"]))
    seconds = time.perf_counter() - t0
    l_rtn, rows_rtn = hessian_loss(W, rtn.w_hat, H_true)
    l_gptq, rows_gptq = hessian_loss(W, gq.w_hat, H_true)
    return {"loss_rtn": l_rtn, "loss_gptq": l_gptq, "ratio": l_gptq / l_rtn, "rows_rtn": rows_rtn,
            "rows_gptq": rows_gptq, "grid_changes": float((gq.q != rtn.q).float().mean()), "seconds": seconds,
            "H": H, "H_true": H_true, "rtn": rtn}


def gptq_one_layer(cfg: dict, rec: Recorder) -> dict:
    rows, cols, n = int(cfg["rows"]), int(cfg["cols"]), int(cfg["n_calib"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    W = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * 0.02
    X = torch.randn(cols, n, generator=gen, dtype=torch.float64)
    with torch_threads():
        case = _gptq_case(W, X, cfg)
        for r in range(rows):
            rec.log(r, stage="rows", row=r, loss_rtn=float(case["rows_rtn"][r]), loss_gptq=float(case["rows_gptq"][r]))
        lower = gptq_quantize(W, case["H"], int(cfg["bits"]), int(cfg["group_size"]),
                              int(cfg["block"]), upper=False)
        lower_ratio = hessian_loss(W, lower.w_hat, case["H_true"])[0] / case["loss_rtn"]
        # lazy batching is exact: the block size must not change a single code
        blocks = [gptq_quantize(W, case["H"], int(cfg["bits"]), int(cfg["group_size"]), b).w_hat
                  for b in (int(cfg["group_size"]), 2 * int(cfg["block"]))]
        block_diff = float((blocks[0] - blocks[1]).abs().max())
        sweep = {}
        for i, m in enumerate(cfg["calib_sweep"]):
            Xm = torch.randn(cols, int(m), generator=gen, dtype=torch.float64)
            sweep[int(m)] = _gptq_case(W, Xm, cfg)["ratio"]
            rec.log(i, stage="calib_sweep", n_calib=int(m), loss_ratio=sweep[int(m)])
        Xc = _cauchy(gen, cols, n)
        cauchy = _gptq_case(W, Xc, cfg)["ratio"]
    out = {"loss_rtn": case["loss_rtn"], "loss_gptq": case["loss_gptq"],
           "loss_ratio_gptq_over_rtn": case["ratio"], "n_grid_changes_frac": case["grid_changes"],
           "lower_cholesky_ratio": lower_ratio, "cauchy_loss_ratio": cauchy, "block_size_max_abs_diff": block_diff,
           "calib_sweep_ratio": {str(k): v for k, v in sweep.items()}}
    rec.log(0, stage="timing", seconds_per_layer=case["seconds"])  # logged, not in results: it is a timing
    rec.note(f"GPTQ/RTN loss {case['ratio']:.3f} at n={n}; lower Cholesky factor gives {lower_ratio:.3f} "
             f"(= RTN); Cauchy inputs {cauchy:.3f}; {case['grid_changes']:.1%} of codes differ from RTN")
    return out


def _cauchy(gen: torch.Generator, rows: int, cols: int) -> torch.Tensor:
    u = torch.rand(rows, cols, generator=gen, dtype=torch.float64)
    return torch.tan(torch.pi * (u - 0.5))


# ---------------------------------------------------------------------- lab 02: Pareto sweep
def _attainable(intensity: float, cfg: dict) -> float:
    return min(float(cfg["peak_gflops"]), intensity * float(cfg["bandwidth_gbs"]))


def pareto_sweep(cfg: dict, rec: Recorder) -> dict:
    model, texts = _base(cfg)
    schemes = list(cfg["schemes"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    train = [s.text for s in vc.base_split()[0]]
    calib_idx = torch.randperm(len(train), generator=gen)[: int(cfg["calib_n"])].tolist()
    with torch_threads():
        x, _ = lt.batch_tensors([train[i] for i in calib_idx])
        hessians = calibration_hessians(model, x)
    out: dict[str, Any] = {"n_schemes": len(schemes), "calib_n": len(calib_idx)}
    flops_per_token = 2 * sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    flops_per_token += 2 * model.tok.weight.numel()  # the tied LM head
    ref_ppl = ref_acc = 0.0
    for i, scheme in enumerate(schemes):
        with torch_threads():
            qm = quantize_model(model, scheme, hessians)
            ppl, acc = lt.perplexity(qm, texts), lt.verb_tense_accuracy(qm)
        nbytes = model_bytes(qm, scheme)
        if scheme == "fp32":
            ref_ppl, ref_acc = ppl, acc
        tag = {"int8_per_tensor": "int8_pt", "int8_per_channel": "int8", "per_group_64": "int4_pg64",
               "per_group_128": "int4_pg128", "gptq_per_group_64": "int4_gptq"}.get(scheme, scheme)
        out[f"{tag}_ppl"], out[f"{tag}_bytes"], out[f"{tag}_verb_acc"] = ppl, nbytes, acc
        if ref_ppl:
            out[f"{tag}_ppl_gap_pct"] = _gap(ppl, ref_ppl)
        intensity = flops_per_token / nbytes  # batch-1 decode reads every weight once per token
        out[f"{tag}_intensity"] = intensity
        rec.log(i, stage="schemes", scheme=scheme, ppl=ppl, bytes=nbytes, verb_acc=acc)
        rec.log(i, stage="roofline", scheme=scheme, intensity=intensity, gflops=_attainable(intensity, cfg))
        rec.progress(i + 1, len(schemes))
    for j, x_ in enumerate((0.05, 1000.0)):
        rec.log(100 + j, stage="roofline", scheme="ceiling", intensity=x_, gflops=_attainable(x_, cfg))
    out["verb_acc_drop_int8_pp"] = 100.0 * (ref_acc - out.get("int8_verb_acc", ref_acc))
    out["fp32_verb_acc"] = ref_acc
    rec.note("bytes include FP16 scales and the FP16 embedding; the roofline ceilings are config "
             f"(peak {cfg.get('peak_gflops', 200.0)} GFLOP/s, {cfg.get('bandwidth_gbs', 20.0)} GB/s)")
    return out


# ---------------------------------------------------------------------- lab 03: GGUF-lite
def gguf_roundtrip(cfg: dict, rec: Recorder) -> dict:
    model, texts = _base(cfg)
    g = int(cfg["int4_group"])
    mixed = {n: ("int8_per_channel" if ".attn." in n else f"per_group_{g}") for n in linear_names(model)}
    qm = quantize_model(model, mixed)
    path = rec.out_dir / "minigpt.gguf-lite"
    meta = {"arch": "minigpt", "n_layer": model.cfg.n_layer, "d_model": model.cfg.d_model, "seed": cfg["seed"]}
    write_gguf_lite(path, qm, meta)
    rec.artifact(path, "model")
    tensors, meta_back = read_gguf_lite(path)
    # tensors vs the fake-quant model's effective weights
    expected = {n: p.detach() for n, p in qm.state_dict().items() if not n.endswith(("W_int8", "scale"))}
    for name, m in qm.named_modules():
        if isinstance(m, QuantizedLinear):
            expected[f"{name}.weight"] = m.dequantized_weight().detach()
    max_err = max(float((tensors[n] - t.float()).abs().max()) for n, t in expected.items())
    missing = sorted(set(expected) - set(tensors))
    rebuilt = MiniGPT(model.cfg)
    rebuilt.load_state_dict(tensors, strict=True)
    with torch.no_grad(), torch_threads():
        x, _ = lt.batch_tensors(texts[:64])
        act_err = float((rebuilt(x) - qm(x)).abs().max())
    out: dict[str, Any] = {"max_tensor_abs_err": max_err, "max_activation_abs_err": act_err,
                           "missing_tensors": len(missing), "metadata_ok": meta_back.get("arch") == "minigpt",
                           "file_bytes": path.stat().st_size}
    for tag, scheme in (("int8", "int8_per_channel"), ("int4", f"per_group_{g}")):
        ratio = file_size_ratio(model, quantize_model(model, scheme), rec.out_dir / f"{tag}.gguf-lite")
        out[f"{tag}_size_ratio_vs_fp32"] = ratio
        rec.log(0, stage="sizes", scheme=tag, size_ratio=ratio)
    with open(path, "rb") as f:
        out["magic"] = f.read(4).decode("ascii")
    rec.note(f"round trip: tensors {max_err:.2e}, logits {act_err:.2e}; INT8 file {out['int8_size_ratio_vs_fp32']:.2f}x "
             f"smaller than FP32, INT4 {out['int4_size_ratio_vs_fp32']:.2f}x")
    return out
