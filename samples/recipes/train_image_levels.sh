#!/usr/bin/env bash
# Train a multi-level image model (residual VQ stages, decoded as any prefix: `compress
# --quality 1..STAGES`), warm-started from the bundled single-stage model's autoencoder and
# first codebook, then measure it on held-out photos and record the measurement in the file.
#
#   samples/recipes/train_image_levels.sh TRAIN_DIR TEST_DIR OUT [DEVICE] [MINUTES] [STAGES] [EXTRA_TRAIN_ARGS...]
#
# Meant for a GPU (DEVICE=cuda, MINUTES of autoencoder training, a quarter of that for the
# prior); on a CPU give many more minutes. The configuration must match --init's except for
# the stage count: override CONFIG to change both (a tiny smoke run sets it, with INIT=none).
set -euo pipefail
train=$1 test=$2 out=$3 device=${4:-cuda} minutes=${5:-20} stages=${6:-5}
shift $(( $# < 6 ? $# : 6 ))
init=${INIT:-image-default}
config=${CONFIG:-"{\"stages\": $stages}"}
precision=bf16
[ "$device" = cpu ] && precision=32
prior_minutes=$(python3 -c "print(max(0.05, $minutes / 4))")
py=${PYTHON:-python3}
vqcodec() { "$py" -m cli.main "$@"; }

init_args=()
[ "$init" != none ] && init_args=(--init "$init")
vqcodec train image --data "$train" --out "$out" --config "$config" "${init_args[@]}" \
  --device "$device" --precision "$precision" --batch 32 --crop 128 --lr 3e-4 \
  --steps 100000 --prior-steps 50000 --ae-minutes "$minutes" --prior-minutes "$prior_minutes" \
  --prior-examples 4000 -q "$@"
vqcodec eval images "$test" --model "$out" --plot "${out%.safetensors}.rd.png" --record -q \
  > "${out%.safetensors}.eval.txt"
vqcodec models >/dev/null
echo "wrote $out; its levels, rate-distortion table and BD-rates: ${out%.safetensors}.eval.txt"
