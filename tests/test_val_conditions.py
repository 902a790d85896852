"""samples/recipes/make_val_conditions.py: the noisy, reverberant and quiet copies of a speech
folder that the twenty-first session measured vqcodec and Codec2 on."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, make_speechlike

RECIPE = ROOT / "samples/recipes/make_val_conditions.py"


@pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox (Debian package sox; .ci/run installs it)")
def test_three_conditions_of_every_clip_and_a_skip_for_the_unreadable(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    clips = {f"spk_{i}": make_speechlike(1.0, 16000, seed=i) for i in range(2)}
    for name, x in clips.items():
        sf.write(src / f"{name}.wav", x, 16000)
    (src / "broken.wav").write_bytes(b"RIFF not really")
    sf.write(src / "silent.flac", np.zeros(1600), 16000)
    r = subprocess.run([sys.executable, str(RECIPE), str(src), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 clips in each" in r.stdout and "2 skipped" in r.stdout
    assert "skipped broken.wav" in r.stderr and "skipped silent.flac: silent" in r.stderr
    for name, x in clips.items():
        noisy, rate = sf.read(tmp_path / "out/noise20" / f"{name}.flac")
        assert rate == 16000 and len(noisy) == len(x)
        noise = noisy - x
        snr = 10 * np.log10(np.mean(x ** 2) / np.mean(noise ** 2))
        assert abs(snr - 20) < 0.1  # FLAC's 16 bits cost a little of the exact 20 dB
        quiet, _ = sf.read(tmp_path / "out/quiet" / f"{name}.flac")
        assert abs(20 * np.log10(np.sqrt(np.mean(quiet ** 2))) + 35) < 0.1
        wet, rate = sf.read(tmp_path / "out/reverb" / f"{name}.flac")
        assert rate == 16000 and len(wet) >= len(x)
        assert 0.5 < np.max(np.abs(wet)) <= 10 ** (-3 / 20) + 0.01  # sox's norm -3
        dry = x / np.max(np.abs(x)) * np.max(np.abs(wet))
        assert np.mean((wet[: len(x)] - dry) ** 2) > 0.01 * np.mean(dry ** 2)  # a room, not a copy
    again = tmp_path / "again"
    subprocess.run([sys.executable, str(RECIPE), str(src), str(again)], check=True, capture_output=True)
    for name in clips:  # the noise comes from a fixed seed, sox's dither too (-R)
        for c in ("noise20", "reverb", "quiet"):
            assert ((again / c / f"{name}.flac").read_bytes()
                    == (tmp_path / "out" / c / f"{name}.flac").read_bytes())
