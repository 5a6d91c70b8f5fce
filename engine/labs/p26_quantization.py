"""Phase 26 labs: INT8 PTQ, GPTQ on one layer, the Pareto sweep, the GGUF-lite round trip, the INT8 kernel.

Every lab quantizes the same cached spine checkpoint (the phase-18 base model, engine.lm.train.spine;
its hash is in the manifest) and scores it on the same pair lines, with perplexity reported for
English and Spanish separately (engine.torchstack.quant.spine). Fault `int4_global_scale` (the break): the
per-row INT8 scheme becomes one tensor-wide scale without a clamp, at 4 bits for the attention
projections.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.models.gpt_torch import GPT, linear_names, n_params
from engine.lm.text import bilingual as B
from engine.lm.train import torch_lm
from engine.torchstack.quant import audit as qa
from engine.torchstack.quant import spine as qs
from engine.torchstack.quant.gguf_lite import file_size_ratio, read_gguf_lite, write_gguf_lite
from engine.torchstack.quant.gptq import damped_hessian, gptq_quantize, hessian_loss, rtn_per_group
from engine.torchstack.quant.int8_kernel import (
    Int8DynamicLinear,
    cpu_has_vnni,
    int8_dynamic_model,
    int8_engine_available,
)
from engine.torchstack.quant.qlinear import QuantizedLinear, calibration_hessians, model_bytes, quantize_model
from engine.torchstack.quant.speed import linear_speed, model_speed

FAULT = "int4_global_scale"
LANGS = ("all", "en", "es")


def _base(cfg: dict, rec: Recorder) -> tuple[GPT, Any, list[B.Example]]:
    """The cached phase-18 model (named in the manifest), its tokenizer and the eval examples."""
    with torch_threads():
        model, tok, ck = qs.base(bool(cfg["quick"]))
    registry.record(rec, ck)
    return model, tok, qs.eval_examples(str(cfg["eval_split"]))


def _ppl(model: nn.Module, tok: Any, examples: list[B.Example]) -> dict[str, float]:
    with torch_threads():
        return qs.language_perplexity(model, tok, examples)


def _gap(ppl: float, ref: float) -> float:
    return 100.0 * (ppl - ref) / ref


def _ppl_keys(tag: str, ppl: dict[str, float], ref: dict[str, float] | None) -> dict[str, float]:
    """tag_ppl, tag_ppl_en, tag_ppl_es (and tag_ppl_gap_pct[_en|_es] in % against ref)."""
    out = {}
    for lang in LANGS:
        sfx = "" if lang == "all" else f"_{lang}"
        out[f"{tag}_ppl{sfx}"] = ppl[lang]
        if ref is not None:
            out[f"{tag}_ppl_gap_pct{sfx}"] = _gap(ppl[lang], ref[lang])
    return out


def _broken_scheme(model: nn.Module) -> dict[str, str]:
    """The break's quantize_linear: global scale, no clamp, 4 bits on W_q/k/v/o, 8 elsewhere."""
    return {n: "naive_global4" if ".attn." in n else "naive_global8" for n in linear_names(model)}


# ---------------------------------------------------------------------- lab 00: INT8 PTQ
def _int8_schemes(model: GPT, tok: Any, ex: list[B.Example], fp32: dict[str, float], broken: bool,
                  rec: Recorder, out: dict[str, Any]) -> None:
    """Per-tensor then per-channel INT8 (the break's scheme in place of per-channel): PPL, bytes, codes, scales."""
    step_errs: list[float] = []
    for i, scheme in enumerate(("int8_per_tensor", "int8_per_channel"), start=1):
        spec: str | dict[str, str] = _broken_scheme(model) if broken and scheme == "int8_per_channel" else scheme
        qm = quantize_model(model, spec)
        ppl = _ppl(qm, tok, ex)
        out.update(_ppl_keys(scheme, ppl, fp32))
        out[f"{scheme}_bytes"] = model_bytes(qm, scheme)
        if scheme == "int8_per_channel":
            attn = {n for n in linear_names(model) if ".attn." in n}
            out["zero_code_frac"] = qa.zero_code_frac(qm)
            out["zero_code_frac_4bit"] = qa.zero_code_frac(qm, bits=4) if broken else qa.zero_code_frac(
                quantize_model(model, dict.fromkeys(attn, "per_group_64"), only=attn), bits=4)
            out.update(qa.scale_facts(model, qm))
        step_errs += qa.rounding_errors(model, qm)
        rec.log(i, stage="schemes", scheme=scheme, ppl=ppl["all"], ppl_en=ppl["en"], ppl_es=ppl["es"],
                bytes=out[f"{scheme}_bytes"], ppl_gap_pct=out[f"{scheme}_ppl_gap_pct"])
    out["rounding_error_in_scales"] = max(step_errs)


def _sensitivity(model: GPT, tok: Any, ex: list[B.Example], fp32: dict[str, float], scheme: str,
                 rec: Recorder) -> dict[str, Any]:
    """Quantize one layer at a time; the layer whose quantization costs the most perplexity."""
    names = linear_names(model)
    worst, worst_gap = "", -1e9
    for j, name in enumerate(names):
        gap = _gap(_ppl(quantize_model(model, scheme, only={name}), tok, ex)["all"], fp32["all"])
        rec.log(j, stage="sensitivity", layer=name.replace("block_", "b").replace("attn.", "").replace("ffn.", ""),
                ppl_gap_pct=gap)
        if gap > worst_gap:
            worst, worst_gap = name, gap
        rec.progress(j + 1, len(names))
    return {"sensitivity_scheme": scheme, "most_sensitive_layer": worst, "most_sensitive_gap_pct": worst_gap}


def int8_ptq(cfg: dict, rec: Recorder) -> dict:
    model, tok, ex = _base(cfg, rec)
    fp32 = _ppl(model, tok, ex)
    out: dict[str, Any] = {"model_params": n_params(model), "fp32_bytes": model_bytes(model), "n_eval_lines": 2 * len(ex)}
    out.update(_ppl_keys("fp32", fp32, None))
    rec.log(0, stage="schemes", scheme="fp32", ppl=fp32["all"], ppl_en=fp32["en"], ppl_es=fp32["es"],
            bytes=out["fp32_bytes"])
    _int8_schemes(model, tok, ex, fp32, cfg["fault"] == FAULT, rec, out)
    pt, pc = out["int8_per_tensor_ppl_gap_pct"], out["int8_per_channel_ppl_gap_pct"]
    out["per_channel_over_per_tensor_gap"] = pc / pt if pt > 0 else (0.0 if pc <= 0 else float("inf"))
    out["output_dtype_matches"] = qa.output_contract_ok(model.blocks[0].ffn.w1)
    out.update(qa.byte_shares(model, model.E))
    out.update(_sensitivity(model, tok, ex, fp32, str(cfg["sensitivity_scheme"]), rec))
    rec.note(f"FP32 PPL {fp32['all']:.4f} (en {fp32['en']:.3f}, es {fp32['es']:.3f}); per-tensor gap {pt:.3f} %, "
             f"per-channel gap {pc:.3f} % (en {out['int8_per_channel_ppl_gap_pct_en']:.3f}, "
             f"es {out['int8_per_channel_ppl_gap_pct_es']:.3f}); zero codes {out['zero_code_frac']:.1%}")
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


TAGS = {"int8_per_tensor": "int8_pt", "int8_per_channel": "int8", "per_group_64": "int4_pg64",
        "per_group_128": "int4_pg128", "gptq_per_group_64": "int4_gptq", "int8_kernel": "int8_kernel"}


def pareto_sweep(cfg: dict, rec: Recorder) -> dict:
    model, tok, ex = _base(cfg, rec)
    acc_ex = qs.eval_examples(str(cfg["acc_split"]))
    schemes = list(cfg["schemes"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    train = B.lines("train", ("pair", "pair_en_es"))
    calib_idx = torch.randperm(len(train), generator=gen)[: int(cfg["calib_n"])].tolist()
    with torch_threads():
        x, _ = torch_lm.batch(torch_lm.encode_lines(tok, [train[i] for i in calib_idx]))
        hessians = calibration_hessians(model, x)
    out: dict[str, Any] = {"n_schemes": len(schemes), "calib_n": len(calib_idx)}
    flops_per_token = 2 * sum(m.weight.numel() for m in qa.fp_linears(model))
    flops_per_token += 2 * model.E.numel()  # the tied LM head
    ref: dict[str, float] | None = None
    ref_acc = 0.0
    for i, scheme in enumerate(schemes):
        if scheme == "int8_kernel" and not int8_engine_available():
            rec.note("int8_kernel skipped: this torch build has no x86/fbgemm quantized engine")
            continue
        with torch_threads():
            qm = int8_dynamic_model(model) if scheme == "int8_kernel" else quantize_model(model, scheme, hessians)
            ppl, acc = qs.language_perplexity(qm, tok, ex), qs.tense_accuracy(qm, tok, acc_ex)
        nbytes = model_bytes(qm, "int8_per_channel" if scheme == "int8_kernel" else scheme)
        if scheme == "int8_kernel":  # same codes and scales as int8_per_channel, bias kept in FP32
            nbytes = sum(m.W_int8.numel() + 2 * m.scale.numel() + (0 if m.bias is None else 4 * m.bias.numel())
                         for m in qm.modules() if isinstance(m, Int8DynamicLinear))
            nbytes += 2 * model.E.numel() + sum(4 * p.numel() for n, p in qm.named_parameters() if n != "E")
        if scheme == "fp32":
            ref, ref_acc = ppl, acc
        tag = TAGS.get(scheme, scheme)
        out.update(_ppl_keys(tag, ppl, ref if scheme != "fp32" else None))
        out[f"{tag}_bytes"], out[f"{tag}_verb_acc"] = nbytes, acc
        intensity = flops_per_token / nbytes  # batch-1 decode reads every weight once per token
        out[f"{tag}_intensity"] = intensity
        rec.log(i, stage="schemes", scheme=scheme, ppl=ppl["all"], ppl_en=ppl["en"], ppl_es=ppl["es"], bytes=nbytes,
                verb_acc=acc)
        rec.log(i, stage="roofline", scheme=scheme, intensity=intensity, gflops=_attainable(intensity, cfg))
        rec.progress(i + 1, len(schemes))
    for j, x_ in enumerate((0.05, 1000.0)):
        rec.log(100 + j, stage="roofline", scheme="ceiling", intensity=x_, gflops=_attainable(x_, cfg))
    out["verb_acc_drop_int8_pp"] = 100.0 * (ref_acc - out.get("int8_verb_acc", ref_acc))
    out["fp32_verb_acc"] = ref_acc
    worst = max((k for k in out if k.startswith("int4") and "_ppl_gap_pct_" in k), key=lambda k: out[k], default=None)
    rec.note("bytes include FP16 scales and the FP16 embedding; the roofline ceilings are config "
             f"(peak {cfg['peak_gflops']} GFLOP/s, {cfg['bandwidth_gbs']} GB/s); worst INT4 language gap: "
             f"{worst} = {out[worst]:.2f} %" if worst else "")
    return out


# ---------------------------------------------------------------------- lab 03: GGUF-lite
def gguf_roundtrip(cfg: dict, rec: Recorder) -> dict:
    model, tok, ex = _base(cfg, rec)
    g = int(cfg["int4_group"])
    mixed = {n: ("int8_per_channel" if ".attn." in n else f"per_group_{g}") for n in linear_names(model)}
    qm = quantize_model(model, mixed)
    path = rec.out_dir / "minigpt.gguf-lite"
    meta = {"arch": "minigpt", "n_layers": model.cfg.n_layers, "d_model": model.cfg.d_model,
            "vocab_size": model.cfg.vocab_size}
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
    rebuilt = GPT(model.cfg)
    rebuilt.load_state_dict(tensors, strict=True)
    with torch.no_grad(), torch_threads():
        x, _ = torch_lm.batch(torch_lm.encode_lines(tok, [B.pair_line(e) for e in ex[:64]]))
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


# ---------------------------------------------------------------------- lab 04: the INT8 kernel
def int8_kernel(cfg: dict, rec: Recorder) -> dict:
    """The same per-row INT8 codes on torch's integer kernel: accuracy per language, and speed (logged only)."""
    if not int8_engine_available():
        rec.note("skipped: this torch build has no x86/fbgemm quantized engine")
        return {"skipped": True}
    model, tok, ex = _base(cfg, rec)
    fp32 = _ppl(model, tok, ex)
    kernel = int8_dynamic_model(model)
    fake = quantize_model(model, "int8_per_channel")
    out: dict[str, Any] = {"vnni": cpu_has_vnni(), "reduce_range": not cpu_has_vnni(), "skipped": False}
    out.update(_ppl_keys("fp32", fp32, None))
    out.update(_ppl_keys("int8_fake", _ppl(fake, tok, ex), fp32))
    out.update(_ppl_keys("int8_kernel", _ppl(kernel, tok, ex), fp32))
    kern = [m for m in kernel.modules() if isinstance(m, Int8DynamicLinear)]
    out["n_kernel_linears"] = len(kern)
    out["codes_equal_per_channel_scheme"] = all(torch.equal(k.W_int8, q.W_int8) and torch.equal(k.scale, q.scale)
                                                for k, q in zip(kern, qa.qlayers(fake), strict=True))
    with torch.no_grad(), torch_threads():
        seqs = torch_lm.encode_lines(tok, [B.pair_line(e, o) for e in ex for o in qs.ORDERS])
        x, y = torch_lm.batch(seqs)
        lf, lk = model(x), kernel(x)
        keep = y != torch_lm.IGNORE
        out["top1_agreement"] = float((lf.argmax(-1) == lk.argmax(-1))[keep].float().mean())
        out["logits_rel_err"] = float((lk - lf)[keep].norm() / lf[keep].norm())
    # speed: logged, never returned (results.json stays deterministic); soft checks read the last logged value
    reps = int(cfg["repeats"])
    with torch_threads(1):  # one thread: the ratio, not the machine's core count
        for i, n in enumerate(cfg["linear_sizes"]):
            r = linear_speed(int(n), int(cfg["rows"]), reps)
            rec.log(i, stage="linear_speed", n=int(n), fp32_ms=r["fp32_ms"], int8_ms=r["int8_ms"], speedup=r["speedup"])
            if int(n) == int(cfg["headline_size"]):
                rec.log(i, speedup_headline=r["speedup"])
        ids = x[: int(cfg["speed_batch"])]
        r = model_speed(model, ids, reps)
        rec.log(0, stage="model_speed", model=f"phase-18 d={model.cfg.d_model}", fp32_ms=r["fp32_ms"],
                int8_ms=r["int8_ms"], speedup=r["speedup"], speedup_spine=r["speedup"])
        d = int(cfg["wide_d_model"])
        wide = GPT(type(model.cfg)(**{**model.cfg.__dict__, "d_model": d, "d_ff": 4 * d, "n_heads": d // 64}), seed=0)
        r = model_speed(wide, ids, reps)
        rec.log(1, stage="model_speed", model=f"same family d={d}", fp32_ms=r["fp32_ms"], int8_ms=r["int8_ms"],
                speedup=r["speedup"], speedup_wide=r["speedup"])
    rec.note(f"INT8 kernel PPL gap en {out['int8_kernel_ppl_gap_pct_en']:+.3f} %, es {out['int8_kernel_ppl_gap_pct_es']:+.3f} % "
             f"(fake-quant weights only: en {out['int8_fake_ppl_gap_pct_en']:+.3f} %, es "
             f"{out['int8_fake_ppl_gap_pct_es']:+.3f} %); top-1 agreement {out['top1_agreement']:.3f}; "
             f"VNNI {out['vnni']}, reduce_range {out['reduce_range']}")
    return out
