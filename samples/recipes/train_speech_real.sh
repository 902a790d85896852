#!/usr/bin/env bash
# Rebuild the bundled speech model (speech-default) the way the shipped one was made:
#   1. the real-speech corpus (Debian packages, speaker-disjoint train/val/test),
#   2. the synthetic corpus (espeak-ng / flite / festival voices) for variety,
#   3. one packed training set with both,
#   4. adversarial fine-tuning of the previous speech model (the synthetic-only model of
#      train_bundled.sh) on it, then a new prior, frozen to integers,
#   5. the measurement on held-out real speakers that writes the model's metadata.
#
#   samples/recipes/train_speech_real.sh [OUT_DIR] [DEVICE] [AE_MINUTES] [PRIOR_MINUTES]
#
# The shipped model: DEVICE=cpu, 75 + 14 minutes on this project's 2-core CPU (one training
# thread, other work beside it). Training resumes after a kill: run the same command with
# RESUME=--resume. Everything lands in OUT_DIR (default runs/speech).
set -euo pipefail
out=${1:-runs/speech} device=${2:-cpu} ae_minutes=${3:-75} prior_minutes=${4:-14}
py=${PYTHON:-python3}
mkdir -p data "$out"

[ -d data/real/train ] || "$py" samples/recipes/make_real_speech_corpus.py --out data/real --root data/debs-root
[ -d data/synth/train ] || "$py" samples/recipes/make_speech_corpus.py --out data/synth --minutes 30 --seed 0
[ -f data/speech_mix.npy ] || "$py" -c "
import sys; sys.path.insert(0, 'samples/recipes')
from pathlib import Path
from make_real_speech_corpus import pack
pack([Path('data/real/train'), Path('data/synth/train')], Path('data/speech_mix.npy'))"

precision=32
[ "$device" = cuda ] && precision=bf16
# One thread: on a 2-core machine shared with other work, a second OpenMP thread that has to
# wait for a busy core made steps up to 5x slower (measured: 13.9 s vs 70 s per step).
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$py" -m cli.main train speech --data data/speech_mix.npy \
  --val-data data/real/val --out "$out/speech-default.safetensors" --init speech-default \
  --adversarial --gan-config '{"adv_weight": 1.0, "fm_weight": 2.0, "every": 2}' \
  --device "$device" --precision "$precision" --batch 16 --lr 3e-4 --seconds 1.0 \
  --steps 100000 --prior-steps 50000 --ae-minutes "$ae_minutes" --prior-minutes "$prior_minutes" \
  --prior-examples 3000 --checkpoint-every 200 -q ${RESUME:-}

"$py" -m cli.main eval speech data/real/test --model "$out/speech-default.safetensors" --json \
  --plot "$out/speech_quality.png" > "$out/eval_test.json"
