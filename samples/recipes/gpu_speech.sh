#!/usr/bin/env bash
# One call on a lent GPU machine: retrain the bundled speech model's decoder there (GAN=1: with
# the discriminators), from the kit that samples/recipes/gpu_kit.py built (.gpu/ and .whl/, carried).
#
#   here:  python samples/recipes/gpu_kit.py build data/speech_mix.npy data/real/val
#   there: OUT=$OUT bash samples/recipes/gpu_speech.sh      (run with carry [".gpu", ".whl"])
#
# `--only decoder` keeps the encoder, codebooks and prior: the model that comes back reads and
# writes the same streams as speech-default (same codes id), so it needs no new prior and no
# stream breaks. It lands in $OUT with its training log; measure it here with
# samples/recipes/val_checkpoint.py on the validation speakers before anything else. A later call
# continues from it with INIT=that-file (fresh optimiser and discriminators: a full checkpoint is
# larger than what a call may carry).
#
# MINUTES (default 6) is the training budget; start-up, unpacking and the summary take about
# 2 minutes more, inside one 10-minute call. DEVICE=cpu STEPS=2 runs the same path on a CPU.
set -euo pipefail
minutes=${MINUTES:-6} steps=${STEPS:-100000} init=${INIT:-speech-default}
source "$(dirname "$0")/gpu_common.sh"
# Spectral losses alone by default: on this project's CPU they moved validation PESQ and STOI
# further per hour than the discriminators did (docs/RESULTS.md). GAN=1 adds them; on a GPU they
# see 16 examples of 1 s, every step.
gan_args=()
if [ "${GAN:-0}" = 1 ]; then
  gan='{"adv_weight": 1.0, "fm_weight": 2.0, "every": 1, "batch": 16, "seconds": 1.0}'
  [ "$device" = cpu ] && gan='{"adv_weight": 1.0, "fm_weight": 2.0, "every": 2}'
  gan_args=(--adversarial --gan-config "$gan")
fi
"$py" -m cli.main train speech --data "$data/train.npy" --val-data "$data/val.npy" \
  --init "$init" --only decoder "${gan_args[@]}" --device "$device" \
  --precision "$precision" --batch "${BATCH:-64}" --seconds 1.0 --lr "${LR:-3e-4}" \
  --steps "$steps" --ae-minutes "$minutes" --checkpoint-every 1000 --seed "${SEED:-5}" -q \
  --out "$out/speech-dec.safetensors"
rm -f "$out/speech-dec.safetensors.ckpt"  # larger than a file that may come back (16 MiB)
ls -la "$out"
