#!/usr/bin/env bash
# The validation speakers as telephone prompts: every clip of data/real/val resampled to 8 kHz
# and passed through GSM 06.10 full-rate coding (sox), written to data/real/valgsm as FLAC.
# Two thirds of the test clips are GSM phone prompts (asterisk-es-co) and none of the validation
# voices is, so choices made on data/real/val alone can miss what such recordings do
# (docs/RESULTS.md, eighteenth session). Needs sox.
#
#   bash samples/recipes/make_val_gsm.sh [SRC=data/real/val] [DST=data/real/valgsm]
set -euo pipefail
src=${1:-data/real/val}
dst=${2:-data/real/valgsm}
command -v sox >/dev/null || { echo "make_val_gsm: needs sox" >&2; exit 1; }
mkdir -p "$dst"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$src"/*.flac "$src"/*.wav; do
  [ -e "$f" ] || continue
  name=$(basename "${f%.*}")
  sox -V1 "$f" -r 8000 -c 1 "$tmp/$name.gsm"
  sox -V1 "$tmp/$name.gsm" -b 16 "$dst/$name.flac"
  n=$((n + 1))
done
echo "make_val_gsm: $n clips in $dst"
