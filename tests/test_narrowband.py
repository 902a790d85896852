"""`train --narrowband SHARE`: the encoder hears speech through a telephone band (as recorded at
8 kHz) on that share of the examples, and the loss still compares with the full-band original."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import TINY_SPEECH, run_cli

from vqcodec.models.modelfile import load_model
from vqcodec.train.augment import NARROW_STOP, band_limit


def _spectrum(x: torch.Tensor, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.fft.rfftfreq(x.shape[-1], 1 / rate), torch.fft.rfft(x.double(), dim=-1).abs()


def test_band_limit_empties_the_top_band_of_the_chosen_examples_only():
    x = torch.randn(64, 16000)
    out = band_limit(x, 0.5, np.random.default_rng(3), 16000)
    freqs, mag = _spectrum(out, 16000)
    chosen = (mag[:, freqs > NARROW_STOP].max(dim=1).values < 1e-3)
    untouched = torch.tensor([torch.equal(a, b) for a, b in zip(out, x)])
    assert torch.equal(chosen, ~untouched)  # each example either band-limited or left as it was
    assert 16 < int(chosen.sum()) < 48
    low = freqs < 3000
    assert torch.allclose(mag[chosen][:, low], _spectrum(x, 16000)[1][chosen][:, low], rtol=1e-4, atol=1e-3)
    again = band_limit(x, 0.5, np.random.default_rng(3), 16000)
    assert torch.equal(out, again)  # the draws come from the caller's generator
    assert band_limit(x, 0.0, np.random.default_rng(3), 16000) is x


def _train(media, speech_model, out, share: str):
    return run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                   json.dumps(TINY_SPEECH), "--init", speech_model, "--only", "encoder",
                   "--narrowband", share, "--steps", "3", "--batch", "2", "--seconds", "0.5",
                   "--lr", "1e-2", "--seed", "4", "-q")


def test_an_encoder_trained_with_narrowband_keeps_the_codes_and_round_trips(media, speech_model, tmp_path):
    out, plain = tmp_path / "nb.safetensors", tmp_path / "plain.safetensors"
    r = _train(media, speech_model, out, "1")
    assert r.returncode == 0, r.stderr.decode()
    assert _train(media, speech_model, plain, "0").returncode == 0
    assert load_model(out).codes == load_model(speech_model).fingerprint
    nb, wide = load_model(out).net.state_dict(), load_model(plain).net.state_dict()
    moved = [k for k in nb if k.startswith("encoder.") and not torch.equal(nb[k], wide[k])]
    assert moved  # the same seed and data: only what the encoder heard differs
    wav = media / "sp" / "0.wav"
    assert run_cli("compress", wav, "-m", out, "-o", tmp_path / "a.vqc").returncode == 0
    back = run_cli("decompress", tmp_path / "a.vqc", "-m", speech_model, "-o", tmp_path / "a.wav")
    assert back.returncode == 0, back.stderr  # the base model reads the new encoder's streams


@pytest.mark.parametrize("args, message", [
    (["image", "--narrowband", "0.5"], "--narrowband is for speech models"),
    (["speech", "--narrowband", "1.5"], "--narrowband is a share: 0 to 1"),
    (["speech", "--narrowband", "-0.1"], "--narrowband is a share: 0 to 1"),
])
def test_narrowband_is_checked_before_any_work(media, tmp_path, args, message):
    r = run_cli("train", args[0], "--data", media / "sp", "--out", tmp_path / "x.safetensors", *args[1:])
    assert r.returncode == 1 and r.stderr.decode() == f"vqcodec: error: {message}\n"
    assert not (tmp_path / "x.safetensors").exists()
