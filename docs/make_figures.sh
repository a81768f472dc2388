#!/usr/bin/env bash
# Regenerate the README figures in docs/img/ from the real samples in ../shared/data
# (a few minutes on 2 CPU cores). Every figure is drawn by a vprop command; the backbones are
# a fixed randomly initialised ViT-S/16 and a tiny ViT pretrained for 3 epochs, so the maps
# show how the figures look, not what a trained model does.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/vprop
PY=.venv/bin/python
DATA=${DATA:-../shared/data}
CKPT=$DATA/reference-propagation/vits16-random-fp16.pth
OUT=docs/img
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
COMMON=(--no-progress --device cpu)

# Runs: DAVIS (blackswan + train, 5 objects), the JHMDB clip; then the HTML report.
$V eval --task davis --data-root "$DATA/davis-mini/DAVIS" --sequences blackswan,train \
    --ckpt "$CKPT" --size 240x432 --out "$WORK/davis" "${COMMON[@]}"
$V eval --task jhmdb --data-root "$DATA/jhmdb-mini" --split "$DATA/jhmdb-mini/val_list.txt" \
    --ckpt "$CKPT" --out "$WORK/jhmdb" "${COMMON[@]}"
$V report "$WORK/davis" "$WORK/jhmdb" --out "$WORK/report" --max-plots 6 --worst 3
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1500 \
    --screenshot="$OUT/report.png" "file://$(realpath "$WORK/report/index.html")" 2>/dev/null

# Fig. 4: propagated masks and keypoints over frames (ground truth above).
$V viz overlay "$WORK/davis" --sequence blackswan --frames 5 --with-gt --width 1000 \
    --out "$OUT/overlay-davis.png"
$V viz overlay "$WORK/jhmdb" --frames 5 --with-gt --width 1000 --out "$OUT/overlay-jhmdb.png"

# Fig. 5: CLS attention of the last block, one panel per head.
$V viz attention "$DATA/davis-mini/DAVIS/JPEGImages/480p/blackswan/00000.jpg" --ckpt "$CKPT" \
    --size 224x400 --out "$OUT/attention.png"

# Fig. 6: loss, lr and J&F over a short pretraining (DAVIS `train` only, every epoch).
mkdir -p "$WORK/davis-train/ImageSets/2017"
for kind in JPEGImages Annotations; do
  mkdir -p "$WORK/davis-train/$kind/480p"
  ln -s "$(realpath "$DATA/davis-mini/DAVIS/$kind/480p/train")" "$WORK/davis-train/$kind/480p/train"
done
echo train > "$WORK/davis-train/ImageSets/2017/val.txt"
$V pretrain --method cropmae --data "$DATA/images-mini" --arch vit_test_patch16 --img-size 64 \
    --decoder-dim 64 --decoder-ffn-dim 128 --mask-ratio 0.9 --epochs 3 --batch-size 20 \
    --lr 2e-3 --log-every 1 --workers 0 --no-progress --eval-davis "$WORK/davis-train" \
    --eval-every 1 --out "$WORK/pretrain"
$V viz curve "$WORK/pretrain" --out "$OUT/curve.png"

# Keep the PNGs small: 128-colour palettes.
$PY - "$OUT" <<'PYEOF'
import sys
from pathlib import Path
from PIL import Image
for path in sorted(Path(sys.argv[1]).glob("*.png")):
    Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)
    print(path, path.stat().st_size // 1024, "KiB")
PYEOF
