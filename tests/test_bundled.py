"""The bundled default models: listed with measurements, and used when no model is named."""

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import ROOT, run_cli


def test_models_lists_both_defaults_with_only_recorded_measurements():
    from vqcodec.eval.measured import RECORDED_BY

    r = run_cli("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"image-default", "speech-default"} <= set(rows)
    assert rows["image-default"]["kind"] == "image" and rows["speech-default"]["kind"] == "speech"
    for row in rows.values():
        assert row["megabytes"] < 12
        measured = row["measured"]
        assert row["rate"] == "not measured" or measured["recorded_by"] == RECORDED_BY


def test_hand_written_measurements_are_not_shown(tmp_path, monkeypatch):
    import shutil

    from vqcodec.codec import describe
    from vqcodec.models import modelfile, registry

    shutil.copy(ROOT / "tests" / "golden" / "tiny-image.safetensors", tmp_path / "x.safetensors")
    modelfile.write_info(tmp_path / "x.safetensors", "measured", {"rate": "1 bpp", "quality": "great"})
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(describe, "MODELS_DIR", tmp_path)
    (row,) = describe.bundled_models()
    assert row["rate"] == "not measured" and row["quality"] == "not measured"


@pytest.mark.slow
def test_eval_record_writes_what_models_shows(tmp_path, media, monkeypatch):
    import shutil

    from vqcodec.codec import describe
    from vqcodec.models import modelfile, registry

    model = tmp_path / "x.safetensors"
    shutil.copy(ROOT / "tests" / "golden" / "tiny-image.safetensors", model)
    before = modelfile.read_metadata(model)["fingerprint"]
    folder = tmp_path / "img"
    folder.mkdir()
    shutil.copy(media / "img" / "0.png", folder / "0.png")
    r = run_cli("eval", "images", folder, "--model", model, "--no-peers", "--record", "-q")
    assert r.returncode == 0, r.stderr
    assert modelfile.read_metadata(model)["fingerprint"] == before  # streams stay valid
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(describe, "MODELS_DIR", tmp_path)
    (row,) = describe.bundled_models()
    assert row["rate"].endswith("bpp (mean of 1)") and row["quality"].startswith("PSNR")


@pytest.mark.parametrize("args, most_bpp, least_psnr", [
    ([], 0.22, 27.7),  # the default, level 4: 0.172 bpp, 28.2 dB
    (["--quality", "1"], 0.1, 26.3),  # the VQ-VAE alone: 0.088 bpp, 26.7 dB
    (["--quality", "8"], 1.6, 35.0),  # the finest detail layer
])
def test_sample_photo_round_trip_with_the_default_model(tmp_path, args, most_bpp, least_psnr):
    src = ROOT / "samples" / "photo.png"
    r = run_cli("compress", src, "-o", tmp_path / "p.vqc", *args)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.vqc").stat().st_size * 8 / (768 * 512) < most_bpp  # bits per pixel
    r = run_cli("decompress", tmp_path / "p.vqc", "-o", tmp_path / "p.png")
    assert r.returncode == 0, r.stderr
    a = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(tmp_path / "p.png"), dtype=np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    assert psnr > least_psnr


def test_sample_speech_round_trip_with_the_default_model(tmp_path):
    src = ROOT / "samples" / "speech.wav"
    r = run_cli("compress", src, "-o", tmp_path / "s.vqc")
    assert r.returncode == 0, r.stderr
    x, rate = sf.read(src)
    assert (tmp_path / "s.vqc").stat().st_size * 8 / (len(x) / rate) < 1200  # bit/s, headers included
    r = run_cli("decompress", tmp_path / "s.vqc", "-o", tmp_path / "s.wav")
    assert r.returncode == 0, r.stderr
    y, rate2 = sf.read(tmp_path / "s.wav")
    assert rate2 == rate and len(y) == len(x)
    from pystoi import stoi

    assert stoi(x, y, rate) > 0.8
