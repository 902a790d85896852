#!/usr/bin/env bash
# Rebuild the bundled default models (image and speech) from the corpora made by
# make_image_corpus.py and make_speech_corpus.py. Both trainings run side by side.
#
#   samples/recipes/train_bundled.sh IMAGE_TRAIN_DIR SPEECH_TRAIN_DIR SPEECH_VAL_DIR OUT_DIR [DEVICE] [MINUTES]
#
# The shipped models were trained with DEVICE=cuda MINUTES=6 on one H100/H200-class GPU
# (about 8 minutes of wall time in all). On a CPU, give many more minutes: the step
# count shrinks to fit the time budget, and the learning-rate schedule follows it.
set -euo pipefail
images=$1 speech=$2 speech_val=$3 out=$4 device=${5:-cuda} minutes=${6:-6}
work=${WORK:-/tmp/vqcodec-train}
mkdir -p "$out" "$work"
precision=bf16
[ "$device" = cpu ] && precision=32
prior_minutes=$(python3 -c "print(max(1.0, $minutes / 4))")

vqcodec() { python3 -m cli.main "$@"; }

vqcodec train speech --data "$speech" --val-data "$speech_val" --out "$work/speech-default.safetensors" \
  --device "$device" --precision "$precision" --batch 48 --lr 7e-4 --seconds 1.0 \
  --steps 100000 --prior-steps 50000 --ae-minutes "$minutes" --prior-minutes "$prior_minutes" \
  --prior-examples 3000 -q > "$out/speech-train.log" 2>&1 &
speech_pid=$!

vqcodec train image --data "$images" --out "$work/image-default.safetensors" \
  --device "$device" --precision "$precision" --batch 32 --crop 128 --lr 5e-4 \
  --steps 100000 --prior-steps 50000 --ae-minutes "$minutes" --prior-minutes "$prior_minutes" \
  --prior-examples 4000 -q > "$out/image-train.log" 2>&1 || echo "image training failed" >&2

wait "$speech_pid" || echo "speech training failed" >&2
cp "$work"/*.safetensors "$work"/*.log.jsonl "$out"/ 2>/dev/null || true
# The quality levels above the VQ stage (the detail layer, vqcodec/codec/detail.py): a model
# trained now has them already; the bundled image-default was trained before they existed and
# got them with this line (fourteenth session; its tensors and codes id stay, old streams decode)
python -c "from vqcodec.models.modelfile import set_detail; set_detail('$out/image-default.safetensors')" || true
ls -la "$out"
