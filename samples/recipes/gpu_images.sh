#!/usr/bin/env bash
# One call on a lent GPU machine: train the multi-level image model (STAGES residual stages,
# `compress --quality 1..STAGES`) there, the whole autoencoder warm-started from image-default,
# then its prior; from the kit that samples/recipes/gpu_kit.py built (.gpu/ and .whl/, carried).
#
#   here:  python samples/recipes/gpu_kit.py build data/images2/train.npy
#   there: OUT=$OUT bash samples/recipes/gpu_images.sh      (run with carry [".gpu", ".whl"])
#
# The model file (about 5.4 MB for 5 stages) and its log land in $OUT. Measure it here with
# `vqcodec eval images data/images/test --model FILE --record` (the peers and the photos are
# here). MINUTES (default 6) is the autoencoder's budget, a quarter of it more for the prior;
# start-up, unpacking and the summary take about 2 minutes more, inside one 10-minute call.
# DEVICE=cpu STEPS=2 PRIOR_STEPS=2 PRIOR_EXAMPLES=8 runs the same path on a CPU.
set -euo pipefail
minutes=${MINUTES:-6} steps=${STEPS:-100000} init=${INIT:-image-default} stages=${STAGES:-5}
source "$(dirname "$0")/gpu_common.sh"
prior_minutes=$("$py" -c "print(max(0.05, $minutes / 4))")
"$py" -m cli.main train image --data "$data/train.npy" --out "$out/image-levels.safetensors" \
  --config "{\"stages\": $stages}" --init "$init" --device "$device" --precision "$precision" \
  --batch "${BATCH:-32}" --crop 128 --lr "${LR:-3e-4}" --steps "$steps" \
  --prior-steps "${PRIOR_STEPS:-50000}" --ae-minutes "$minutes" --prior-minutes "$prior_minutes" \
  --prior-examples "${PRIOR_EXAMPLES:-4000}" --checkpoint-every 1000 --seed "${SEED:-5}" -q
rm -f "$out/image-levels.safetensors.ckpt"  # larger than a file that may come back (16 MiB)
ls -la "$out"
