#!/usr/bin/env bash
# On a CUDA GPU box: every GPU lab in full mode, the BK experiments on the GPU, the GPU kernel
# benchmark and the roofline's GPU ceilings, then one summary table. Budget: under 8 minutes on
# one modern GPU. Nothing is downloaded; a fresh Triton cache makes the compile path honest.
#
#   benchmarks/gpu_check.sh            # full mode
#   benchmarks/gpu_check.sh --quick    # quick overrides, for a first look
# Exit 0 when every run passed (or was skipped with a reason, e.g. no nvcc), 1 otherwise,
# 2 when there is no usable CUDA device. Outputs stay in $OUT (printed at the end).
# DEVICE=cpu runs the same list on the CPU (GPU labs skip, kernels interpret): a dry run of this script.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WB=${WB:-.venv/bin/workbench}
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
MODE=()
[[ "${1:-}" == "--quick" ]] && MODE=(--quick)
mkdir -p "$OUT/ws" "$OUT/runs"
export WORKBENCH_HOME="$OUT/ws" TRITON_CACHE_DIR="$OUT/triton-cache"
unset TRITON_INTERPRET

DEVICE=${DEVICE:-cuda}
"$PY" -c "from engine.systems.hardware.device import resolve; resolve('$DEVICE')" 2>"$OUT/device.err" || {
    echo "gpu_check: $(tail -1 "$OUT/device.err")"; exit 2; }

# target | per-target timeout (s) | extra options
RUNS=(
  "phase-23/lab-01|60|"
  "phase-23/lab-02|120|"
  "phase-23/lab-03|120|"
  "phase-23/lab-04|120|"
  "phase-23/break-00|120|"
  "phase-24/lab-00|120|"
  "phase-24/lab-01|90|"
  "phase-24/lab-02|90|"
  "phase-24/lab-03|90|"
  "phase-24/break-00|60|"
  "phase-24/break-01|60|"
  "phase-24/break-02|60|"
  "phase-27/lab-02|120|"
  "phase-27/break-01|90|"
  "bk-scaling|150|"
  "bk-gradcheck|120|--quick"
  "bk-lm|120|--quick"
)
start=$SECONDS
: > "$OUT/walls.tsv"
for row in "${RUNS[@]}"; do
  IFS='|' read -r target limit extra <<<"$row"
  name=${target//\//_}
  t0=$SECONDS
  # shellcheck disable=SC2086
  timeout "$limit" "$WB" run "$target" --device "$DEVICE" "${MODE[@]}" $extra --json >"$OUT/runs/$name.json" 2>"$OUT/runs/$name.err"
  rc=$?
  printf '%s\t%s\t%s\n' "$target" "$rc" "$((SECONDS - t0))" >>"$OUT/walls.tsv"
  echo "  $target: exit $rc in $((SECONDS - t0)) s"
done

t0=$SECONDS
timeout 240 "$PY" benchmarks/bench_gpu_kernels.py "${MODE[@]}" --json "$OUT/bench.json" >"$OUT/bench.txt" 2>"$OUT/bench.err"
printf '%s\t%s\t%s\n' "bench_gpu_kernels" "$?" "$((SECONDS - t0))" >>"$OUT/walls.tsv"
t0=$SECONDS
timeout 120 "$WB" roofline --remeasure --json >"$OUT/roofline.json" 2>"$OUT/roofline.err"
printf '%s\t%s\t%s\n' "roofline (GPU ceilings cached)" "$?" "$((SECONDS - t0))" >>"$OUT/walls.tsv"

"$PY" - "$OUT" "$((SECONDS - start))" <<'EOF'
import json, sys
from pathlib import Path

out, total = Path(sys.argv[1]), int(sys.argv[2])
KEYS = ("mode", "null_fields", "d2d_fraction_of_hbm_peak", "h2d_fraction_of_pcie_peak", "fp16_matmul_fraction_of_peak",
        "fp32_matmul_fraction_of_peak", "decode_attention_fraction_of_fp16_peak", "strided_over_contiguous_time",
        "fraction_of_hbm_peak", "naive_max_abs_err", "fused_max_abs_err", "fused_over_framework_time_b512",
        "triton_max_abs_err", "kernel_vs_eager_logits_max_abs_diff", "max_abs_err_vs_reference", "max_abs_diff_vs_sdpa",
        "speedup_n4096", "speedup_layer_at_max_n", "device_vs_cpu_rel_err", "resnet_bk_ppl")
print(f"\n{'run':<34} {'exit':>4} {'s':>4}  {'status':<9} failed checks / key numbers")
failed = 0
for line in (out / "walls.tsv").read_text().splitlines():
    target, rc, secs = line.split("\t")
    status, detail = "", ""
    path = out / "runs" / (target.replace("/", "_") + ".json")
    if path.exists():
        try:
            rep = json.loads(path.read_text() or "{}")
        except json.JSONDecodeError:
            rep = {}
        if isinstance(rep, list):
            rep = rep[0] if rep else {}
        status = str(rep.get("status", ""))
        bad = [c["name"] for c in rep.get("checks", []) if c.get("hard") and not c.get("passed")]
        summ = rep.get("results_summary", {})
        nums = [f"{k}={summ[k]:.3g}" if isinstance(summ[k], float) else f"{k}={summ[k]}" for k in KEYS if k in summ]
        detail = ("FAILED: " + "; ".join(bad) + " | " if bad else "") + " ".join(nums)
        if status == "skipped":
            detail = str(rep.get("reason", ""))[:90]
    elif target.startswith("bench"):
        status = "ok" if rc == "0" else "failed"
        detail = f"see {out / 'bench.txt'}"
    else:
        status = "ok" if rc == "0" else "failed"
    if rc not in ("0",):
        failed += 1
    print(f"{target:<34} {rc:>4} {secs:>4}  {status:<9} {detail}")
print(f"\ntotal {total} s (budget 480 s); outputs in {out}")
bench = out / "bench.txt"
if bench.exists():
    print("\n" + bench.read_text())
sys.exit(1 if failed else 0)
EOF
