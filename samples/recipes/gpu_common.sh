# Sourced by gpu_speech.sh and gpu_images.sh on a lent GPU machine: the wheels it lacks (from
# .whl/, carried) and the kit's packs (from .gpu/, carried) unpacked to $data.
out=${OUT:?set OUT to the folder that comes back} device=${DEVICE:-cuda}
py=${PYTHON:-python3}
data=${DATA:-/tmp/vqcodec-data}
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ! "$py" -c "import constriction, soundfile" 2>/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
[ -f "$data/COMPLETE" ] || "$py" samples/recipes/gpu_kit.py unpack .gpu "$data"
precision=bf16
[ "$device" = cpu ] && precision=32
