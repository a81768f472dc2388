#!/usr/bin/env bash
# GPU evaluation check (issue 15): one script, under 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu_check.sh                  (from the repository root)
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh  (CPU rehearsal: 2 sequences, vit_test_patch16)
#
# Writes logs and JSON under $OUT (default ./gpu-check) and echoes the figures:
#   1. nvidia-smi, torch / CUDA versions, CPU model
#   2. the full-scale synthetic DAVIS val (30 sequences, 1,999 frames at 854x480, 1-5 objects)
#   3. `vprop eval` on it, ViT-S/16, cropmae preset, bf16: wall time, frames/s, peak RSS, GPU
#      busy % sampled every 200 ms (mean, and the fraction of samples above 0)
#   4. the same eval as a 1-GPU NCCL torchrun run; its J&F must equal step 3's (and its PNGs
#      are compared byte for byte)
#   5. `vprop bench eval --full-scale` (per-stage split, ratio to the backbone) if time is left
#   6. `vprop bench score --full-scale --workers 1,$(nproc)` (parallel scoring) if time is left
# Each step runs under `timeout`, so a hang cannot eat the budget; a failed step is reported
# and the script goes on. Environment: VPROP, PY (executables), BATCH (frames per forward),
# ARCH, CKPT (default: the seeded random initialisation), GPU_CHECK_DRY (CPU rehearsal: also
# --size 240x432 and long time limits).
set -euo pipefail
OUT=${OUT:-./gpu-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -x .venv/bin/vprop ]; then VPROP=${VPROP:-.venv/bin/vprop}; else VPROP=${VPROP:-vprop}; fi
if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; else PY=${PY:-python3}; fi
BATCH=${BATCH:-16}
if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then  # CPU rehearsal of every step but nvidia-smi
  DEVICE=cpu; ARCH=${ARCH:-vit_test_patch16}; SEQUENCES=2; SAMPLE_EVERY=""
  EXTRA=(--size 240x432); LIMIT=900; STEP5_BEFORE=3000; STEP5_END=3600; STEP6_BEFORE=3000
else
  DEVICE=cuda; ARCH=${ARCH:-vit_small_patch16_224}; SEQUENCES=30; SAMPLE_EVERY=200
  EXTRA=(); LIMIT=200; STEP5_BEFORE=300; STEP5_END=460; STEP6_BEFORE=380
fi
TMP=$(mktemp -d)
SAMPLER=""
stop_sampler() { if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""; fi; }
trap 'stop_sampler; rm -rf "$TMP"' EXIT
start_sampler() {  # GPU busy %, one line per 200 ms, into $1
  : >"$1"
  if [ -n "$SAMPLE_EVERY" ]; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms "$SAMPLE_EVERY" \
      >"$1" 2>/dev/null &
    SAMPLER=$!
  fi
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'; }

echo "== 1. machine"
if [ -n "$SAMPLE_EVERY" ]; then nvidia-smi | tee "$OUT/nvidia-smi.txt"; else echo "dry run: no nvidia-smi"; fi
timeout 60 "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" | tee "$OUT/versions.txt"
(lscpu | grep -E 'Model name|^CPU\(s\)' || true) | tee -a "$OUT/versions.txt"

echo "== 2. full-scale synthetic DAVIS val ($SEQUENCES sequences)"
start=$(date +%s.%N)
timeout 180 "$PY" -c "import sys; from vprop.benchmarks.davis.synthetic import make_full_scale_sample
print(make_full_scale_sample(sys.argv[1], int(sys.argv[2])))" "$TMP/sample" "$SEQUENCES"
ROOT=$TMP/sample/DAVIS
echo "generated in $(elapsed "$start") s"

HELP=$(timeout 120 "$VPROP" eval --help)
if grep -q -- '--precision' <<<"$HELP"; then PREC=(--precision bf16); else PREC=(--amp bfloat16); fi
if [ -n "${CKPT:-}" ]; then EXTRA+=(--ckpt "$CKPT"); fi  # default: seeded random init
EVAL=(eval --task davis --data-root "$ROOT" --arch "$ARCH" --preset cropmae --device "$DEVICE"
      "${PREC[@]}" --batch-size "$BATCH" --no-progress "${EXTRA[@]}")
echo "precision flag: ${PREC[*]}"

timed() {  # name, limit (s), command...: log, wall time and peak RSS under $OUT/<name>.*
  local name=$1 limit=$2; shift 2
  start_sampler "$OUT/$name.gpu-util.csv"
  local begin; begin=$(date +%s.%N)
  local measure=()  # GNU time for the peak RSS (of the largest process), when installed
  if [ -x /usr/bin/time ]; then measure=(/usr/bin/time -v -o "$OUT/$name.time.txt"); fi
  if timeout "$limit" "${measure[@]}" "$@" >"$OUT/$name.log" 2>&1; then
    echo ok >"$OUT/$name.status"
  else
    echo "failed (exit $?)" >"$OUT/$name.status"; echo "!! $name failed or timed out:"; tail -n 5 "$OUT/$name.log"
  fi
  elapsed "$begin" >"$OUT/$name.wall"
  stop_sampler
}

echo "== 3. vprop eval, one process"
timed eval-single "$LIMIT" "$VPROP" "${EVAL[@]}" --out "$OUT/eval-single"

echo "== 4. vprop eval under torchrun, 1 process (NCCL on GPU, gloo on CPU)"
timed eval-torchrun "$LIMIT" env NCCL_DEBUG=INFO "$PY" -m torch.distributed.run --standalone \
  --nproc_per_node 1 \
  -m vprop.cli.main "${EVAL[@]}" --out "$OUT/eval-torchrun"
if diff -rq "$OUT/eval-single/results" "$OUT/eval-torchrun/results" >"$OUT/png-diff.txt" 2>&1; then
  echo "PNGs: byte-identical" | tee -a "$OUT/png-diff.txt"
else
  echo "PNGs: DIFFER or missing ($(wc -l <"$OUT/png-diff.txt") lines in png-diff.txt)"
fi

"$PY" - "$OUT" "$ROOT" <<'EOF' || echo "!! summary failed"
import json, re, sys
from pathlib import Path
out, root = Path(sys.argv[1]), Path(sys.argv[2])
frames = sum(1 for _ in (root / "JPEGImages" / "480p").glob("*/*.jpg"))
summary = {"frames": frames, "sequences": len(list((root / "JPEGImages" / "480p").iterdir()))}
for name in ("eval-single", "eval-torchrun"):
    wall = float((out / f"{name}.wall").read_text())
    time_txt = (out / f"{name}.time.txt").read_text() if (out / f"{name}.time.txt").exists() else ""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_txt)
    util = [float(v) for v in (out / f"{name}.gpu-util.csv").read_text().split() if v.strip()]
    results = out / name / "results.json"
    run = json.loads(results.read_text()) if results.exists() else {}
    score = run.get("global", {}).get("J&F-Mean")
    summary[name] = {
        "status": (out / f"{name}.status").read_text().strip(), "wall_seconds": round(wall, 2),
        "frames_per_second": round(frames / wall, 2),
        "peak_rss_mib": round(int(rss.group(1)) / 1024, 1) if rss else None,
        "gpu_busy_mean_percent": round(sum(util) / len(util), 1) if util else None,
        "gpu_busy_fraction_of_samples": round(sum(v > 0 for v in util) / len(util), 3) if util else None,
        "gpu_samples": len(util), "J&F-Mean": score,
        "run_wall_seconds": run.get("wall_seconds"), "prediction_timing": run.get("timing")}
a, b = summary["eval-single"]["J&F-Mean"], summary["eval-torchrun"]["J&F-Mean"]
summary["torchrun_J&F_equal"] = a is not None and a == b
summary["png_identical"] = "byte-identical" in (out / "png-diff.txt").read_text()
summary["torchrun_nccl_initialised"] = "NCCL INFO" in (out / "eval-torchrun.log").read_text()
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
EOF

echo "== 5. vprop bench eval --full-scale (per-stage split), if time is left"
if [ "$SECONDS" -lt "$STEP5_BEFORE" ]; then
  BENCH_HELP=$(timeout 120 "$VPROP" bench eval --help)
  if grep -q -- '--precision' <<<"$BENCH_HELP"; then BPREC=(--precision bf16); else BPREC=(--amp bfloat16); fi
  bench_args=(--full-scale --full-scale-sequences "$SEQUENCES" --arch "$ARCH" --device "$DEVICE"
              --batch-size "$BATCH" "${BPREC[@]}" --skip-memory --out "$OUT/bench-eval.json")
  if [ -n "${CKPT:-}" ]; then bench_args+=(--ckpt "$CKPT"); fi
  timeout $(( STEP5_END - SECONDS )) "$VPROP" bench eval "${bench_args[@]}" >"$OUT/bench-eval.log" 2>&1 \
    && tail -n 30 "$OUT/bench-eval.log" || echo "!! bench eval failed or timed out (see bench-eval.log)"
else
  echo "skipped: ${SECONDS}s used"
fi
echo "== 6. parallel scoring on this machine's cores, if time is left"
if [ "$SECONDS" -lt "$STEP6_BEFORE" ]; then
  score_args=(--full-scale --full-scale-sequences "$SEQUENCES" --workers "1,$(nproc)"
              --out "$OUT/bench-score.json")
  timeout $(( STEP5_END + 10 - SECONDS )) "$VPROP" bench score "${score_args[@]}" \
    >"$OUT/bench-score.log" 2>&1 \
    && tail -n 40 "$OUT/bench-score.log" || echo "!! bench score failed or timed out"
else
  echo "skipped: ${SECONDS}s used"
fi
echo "total ${SECONDS}s; results in $OUT"
