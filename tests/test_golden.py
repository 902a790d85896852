"""Committed streams must keep decoding to the same indices: a change that breaks existing
files fails here. Regenerate deliberately with tests/golden/make_golden.py."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import OTHER_CPU, run_cli

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


@pytest.mark.parametrize("kind, model", [("image", "tiny-image"), ("image-colour", "tiny-image"),
                                         ("image-flat", "tiny-image"), ("speech", "tiny-speech"),
                                         ("speech-partial", "tiny-speech"),
                                         ("speech-level", "tiny-speech"),
                                         ("speech-compact", "tiny-speech"),
                                         ("image-detail", "tiny-image-detail")])
@pytest.mark.parametrize("env", [None, OTHER_CPU], ids=["this-cpu", "imitated-cpu"])
def test_golden_stream_decodes_to_committed_checksum(kind, model, env, tmp_path):
    out = tmp_path / "idx.npy"
    r = run_cli("decompress", GOLDEN / f"{kind}.vqc", "--model", GOLDEN / f"{model}.safetensors",
                "--indices", out, env=env)
    assert r.returncode == 0, r.stderr
    idx = np.load(out)
    assert list(idx.shape) == EXPECTED[kind]["shape"]
    assert hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest() == EXPECTED[kind]["sha256"]


def test_golden_streams_also_decode_to_media(tmp_path):
    from PIL import Image
    import soundfile as sf

    for kind, model, suffix in (("image", "tiny-image", ".png"), ("speech", "tiny-speech", ".wav")):
        r = run_cli("decompress", GOLDEN / f"{kind}.vqc", "--model", GOLDEN / f"{model}.safetensors",
                    "-o", tmp_path / f"out{suffix}")
        assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "out.png").size == Image.open(GOLDEN / "golden.png").size
    wave, rate = sf.read(tmp_path / "out.wav")
    ref, ref_rate = sf.read(GOLDEN / "golden.wav")
    assert rate == ref_rate and len(wave) == len(ref) and 0 < np.abs(wave).max() <= 1


def test_the_golden_colour_correction_map_decodes_to_its_checksum():
    """A version 4 image stream's colour correction is integers under integer weights: the
    same map on every machine."""
    import sys

    sys.path.insert(0, str(GOLDEN))
    from make_golden import correction_sha256

    assert correction_sha256(GOLDEN / "image-colour.vqc") == EXPECTED["image-colour"]["correction_sha256"]


def test_the_golden_flat_block_map_decodes_to_its_checksum():
    """A version 5 image stream's flat block map: flags and colours, the same on every machine."""
    import sys

    sys.path.insert(0, str(GOLDEN))
    from make_golden import flat_sha256

    got = flat_sha256(GOLDEN / "image-flat.vqc", GOLDEN / "tiny-image.safetensors")
    assert got == EXPECTED["image-flat"]["flat_sha256"]


def test_the_golden_detail_layer_decodes_to_its_checksum():
    """A version 8 image stream's detail coefficients: integers under integer counts, the
    same on every machine."""
    import sys

    sys.path.insert(0, str(GOLDEN))
    from make_golden import detail_sha256

    assert detail_sha256(GOLDEN / "image-detail.vqc") == EXPECTED["image-detail"]["detail_sha256"]


@pytest.mark.parametrize("kind, src, model, opts", [
    ("image", "golden.png", "tiny-image", {"colour": False}),  # byte-identical to the old encoder
    ("image-colour", "golden.png", "tiny-image", {"flat_blocks": False}),  # version 4, as before
    ("image-flat", "golden.png", "tiny-image", {}),
    ("speech", "golden.wav", "tiny-speech", {"level_control": False}),  # version 1, as before
    ("speech-partial", "golden.wav", "tiny-speech", {"stages": 1.5, "level_control": False}),  # 6
    ("speech-compact", "golden.wav", "tiny-speech", {"stages": 1.5}),  # version 9 (7 before)
    ("image-detail", "golden.png", "tiny-image-detail", {"quality": 4})])  # version 8
def test_encoder_output_is_pinned_on_the_reference_setup(kind, src, model, opts):
    """Encoding is deterministic on one machine and torch version (float networks); other
    set-ups may pick other indices where a latent sits between two codes (docs/FORMAT.md)."""
    import platform
    import sys

    import torch

    ref = EXPECTED["encoder"]
    if (torch.__version__.split("+")[0], platform.machine()) != (ref["torch"], ref["machine"]):
        pytest.skip("encoder output is pinned for one torch version and machine type")
    sys.path.insert(0, str(GOLDEN))
    from make_golden import encode

    assert hashlib.sha256(encode(src, f"{model}.safetensors", opts)).hexdigest() == ref[kind]
