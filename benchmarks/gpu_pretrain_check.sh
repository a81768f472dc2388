#!/usr/bin/env bash
# GPU pretraining throughput check (issue 16): one script, under 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu_pretrain_check.sh [OUT_DIR]      (from the repository root)
#
# Measures, each written as JSON under OUT_DIR (default runs/gpu-check) and echoed:
#   1. CropMAE ViT-S/16, batch 128, bf16: model-only, data-only, end-to-end images/s, host
#      syncs per step, share of the model rate lost to data (target >= 3000 pairs/s)
#   2. the same with --compile
#   3. the same with --gpu-decode (nvJPEG batch decode + crops on the GPU)
#   4. model-only A/B of the speed flags: --no-fused-attention, --channels-last, fp16,
#      --no-fused-adamw (to confirm or change the defaults)
#   5. SiamMAE ViT-S/16, batch 128, bf16 on the real mp4 clips
#   6. a 1-GPU NCCL torchrun pretraining run (20 steps, checkpoint written)
#   7. host synchronisations counted in 30 steps of the real training loop
# Data: ../shared/data/images-mini and ../shared/data/videos, replicated by symlinks so an
# epoch holds many batches (set VPROP_IMAGES / VPROP_VIDEOS to use real folders instead).
set -euo pipefail
OUT=${1:-runs/gpu-check}
mkdir -p "$OUT"
VPROP=${VPROP:-.venv/bin/vprop}
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-$(( $(nproc) - 1 ))}
SHARED=${SHARED:-../shared/data}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name(0))"

IMAGES=${VPROP_IMAGES:-$TMP/images}
if [ -z "${VPROP_IMAGES:-}" ]; then  # 200 real photos x 20 = 4000 items (31 batches of 128)
  mkdir -p "$IMAGES"
  for k in $(seq 1 20); do
    for f in "$SHARED"/images-mini/*; do ln -s "$(realpath "$f")" "$IMAGES/r${k}_$(basename "$f")"; done
  done
fi
VIDEOS=${VPROP_VIDEOS:-$TMP/videos}
if [ -z "${VPROP_VIDEOS:-}" ]; then  # 2 real clips x 256 links
  mkdir -p "$VIDEOS"
  for k in $(seq 1 128); do
    for f in "$SHARED"/videos/*.mp4; do ln -s "$(realpath "$f")" "$VIDEOS/r${k}_$(basename "$f")"; done
  done
fi

COMMON=(--arch vits16 --batch-size 128 --precision bf16 --workers "$WORKERS")
run() {  # name, then bench arguments; each step bounded so the whole script stays < 8 min
  local name=$1; shift
  echo "== $name"
  timeout 150 "$VPROP" bench pretrain "${COMMON[@]}" "$@" --json "$OUT/$name.json" \
    | sed -n 1p || echo "!! $name failed or timed out"
}

run cropmae --method cropmae --data "$IMAGES" --steps 40 --warmup 5 --data-batches 20
run cropmae-compile --method cropmae --data "$IMAGES" --steps 40 --warmup 10 \
  --data-batches 5 --compile
run cropmae-gpu-decode --method cropmae --data "$IMAGES" --steps 40 --warmup 5 \
  --data-batches 20 --gpu-decode
run model-no-fused-attention --method cropmae --steps 40 --warmup 5 --no-fused-attention
run model-channels-last --method cropmae --steps 40 --warmup 5 --channels-last
run model-no-fused-adamw --method cropmae --steps 40 --warmup 5 --no-fused-adamw
run model-fp16 --method cropmae --steps 40 --warmup 5 --precision fp16  # the authors' fp16 + loss scaling
run siammae --method siammae --data "$VIDEOS" --steps 8 --warmup 2 --data-batches 4

echo "== 1-GPU NCCL torchrun"
timeout 150 $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m vprop.cli.main \
  pretrain --method cropmae --data "$IMAGES" --arch vits16 --batch-size 128 --epochs 1 \
  --stop-after-steps 20 --log-every 5 --no-progress --workers "$WORKERS" \
  --output-dir "$OUT/torchrun" 2>&1 | tail -n 5 || echo "!! torchrun failed or timed out"
$PY - "$OUT/torchrun" <<'EOF' || true
import json, sys
lines = [json.loads(l) for l in open(f"{sys.argv[1]}/log.jsonl") if '"loss"' in l]
cfg = json.load(open(f"{sys.argv[1]}/config.json"))["derived"]
print("torchrun: world", cfg["world_size"], "steps", [l["step"] for l in lines],
      "images/s", [round(l["images_per_s"]) for l in lines],
      "data wait", [round(l["data_wait_frac"], 3) for l in lines])
EOF
echo "== host synchronisations in the real training loop (CUDA sync debug mode)"
timeout 120 $PY - "$IMAGES" "$OUT/syncs" "$WORKERS" <<'EOF' || echo "!! sync check failed"
import sys, warnings
import torch
from vprop.cropmae.config import TrainConfig
from vprop.cropmae.train import run_pretraining
torch.cuda.set_sync_debug_mode("warn")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run_pretraining(TrainConfig(data=sys.argv[1], output_dir=sys.argv[2], arch="vits16",
                                batch_size=128, epochs=1, stop_after_steps=30, log_every=30,
                                progress=False, workers=int(sys.argv[3])))
syncs = sum("synchroniz" in str(w.message) for w in caught)
print(f"{syncs} synchronising calls in 30 steps with 1 log line and 1 checkpoint "
      "(expected: a few, from the log line and the checkpoint, not one per step)")
EOF
echo "results in $OUT"
