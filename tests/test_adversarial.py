"""Adversarial speech training: discriminators, GAN losses, fine-tuning, and the real-speech recipe."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, TINY_SPEECH, make_speechlike

from vqcodec.networks.discriminators import (Discriminators, GanConfig, discriminator_loss,
                                    generator_losses)

SMALL_GAN = GanConfig(periods=(2, 3), resolutions=((256, 64),), period_channels=(4, 8),
                      stft_channels=4, batch=2, seconds=0.25)


def test_discriminators_get_gradients_and_generator_losses_are_finite():
    torch.manual_seed(0)
    disc = Discriminators(SMALL_GAN)
    real = torch.randn(2, 4000) * 0.1
    fake = (torch.randn(2, 4000) * 0.1).requires_grad_()
    d_loss = discriminator_loss(disc(real), disc(fake.detach()))
    d_loss.backward()
    grads = [p.grad for p in disc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    disc.zero_grad()
    adv, fm = generator_losses(disc(real), disc(fake))
    assert torch.isfinite(adv) and torch.isfinite(fm) and float(fm.detach()) > 0
    (adv + fm).backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0  # reaches the generator


def test_feature_matching_is_zero_for_identical_audio():
    disc = Discriminators(SMALL_GAN)
    x = torch.randn(2, 4000) * 0.1
    _, fm = generator_losses(disc(x), disc(x))
    assert float(fm) == 0.0


@pytest.mark.slow
def test_adversarial_training_fine_tunes_and_round_trips(media, speech_model, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path / "gan.safetensors"
    gan = json.dumps({"periods": [2, 3], "resolutions": [[256, 64]], "period_channels": [4, 8],
                      "stft_channels": 4, "batch": 2, "seconds": 0.25})
    runner = CliRunner()
    r = runner.invoke(app, ["train", "speech", "--data", str(media / "sp"), "--out", str(out),
                            "--config", json.dumps(TINY_SPEECH), "--init", str(speech_model),
                            "--adversarial", "--gan-config", gan,
                            "--steps", "4", "--prior-steps", "4", "--batch", "2",
                            "--seconds", "0.5", "--prior-examples", "8", "-q"])
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in Path(str(out) + ".log.jsonl").read_text().splitlines()]
    gan_steps = [rec for rec in log if rec.get("stage") == "autoencoder" and "disc" in rec]
    assert gan_steps and all(np.isfinite(rec["fm"]) and np.isfinite(rec["adv"]) for rec in gan_steps)
    ckpt = torch.load(str(out) + ".ckpt", weights_only=True)
    assert "disc" in ckpt and "disc_opt" in ckpt  # resumable with the discriminators
    # a new run can start from this run's checkpoint (autoencoder and discriminators)
    again = tmp_path / "again.safetensors"
    r = runner.invoke(app, ["train", "speech", "--data", str(media / "sp"), "--out", str(again),
                            "--config", json.dumps(TINY_SPEECH), "--init", str(out) + ".ckpt",
                            "--adversarial", "--gan-config", gan, "--steps", "0",
                            "--prior-steps", "0", "--batch", "2", "--seconds", "0.5",
                            "--prior-examples", "4", "-q"])
    assert r.exit_code == 0, r.output
    first = {k: v for k, v in ckpt["net"].items() if k.startswith("decoder.")}
    second = torch.load(str(again) + ".ckpt", weights_only=True)
    assert all(torch.equal(second["net"][k], v) for k, v in first.items())  # no AE step ran
    assert all(torch.equal(second["disc"][k], v) for k, v in ckpt["disc"].items())
    # and its trained prior, which then adapts to the new codes
    assert all(torch.equal(second["prior"][k], v) for k, v in ckpt["prior"].items())
    wav = tmp_path / "in.wav"
    import soundfile as sf

    sf.write(wav, make_speechlike(1.5, 16000, 9), 16000)
    vqc, back = tmp_path / "in.vqc", tmp_path / "back.wav"
    assert runner.invoke(app, ["compress", str(wav), "-o", str(vqc), "-m", str(out)]).exit_code == 0
    assert runner.invoke(app, ["decompress", str(vqc), "-o", str(back), "-m", str(out)]).exit_code == 0
    y, rate = sf.read(back)
    assert rate == 16000 and len(y) == 24000 and np.isfinite(y).all()


def test_init_refuses_a_model_of_another_configuration(media, image_model, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    r = CliRunner().invoke(app, ["train", "speech", "--data", str(media / "sp"),
                                 "--out", str(tmp_path / "x.safetensors"), "--init", str(image_model),
                                 "--steps", "1", "--prior-steps", "1", "-q"])
    assert r.exit_code != 0
    assert "is an image model; this run trains a speech model" in (r.output + str(r.exception))


@pytest.mark.skipif(shutil.which("sox") is None, reason="the recipe converts with sox (Debian 'sox')")
def test_real_speech_recipe_writes_clips_manifest_and_speaker_disjoint_splits(tmp_path):
    import soundfile as sf

    root = tmp_path / "root"
    ru = root / "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav"
    hw = root / "usr/share/games/hedgewars/Data/Sounds/voices/British"
    silent = root / "usr/share/games/hedgewars/Data/Sounds/voices/Classic"
    for d in (ru, hw, silent):
        d.mkdir(parents=True)
    sf.write(ru / "ru_0001.wav", make_speechlike(2.0, 16000, 1), 16000)
    sf.write(hw / "Hello.ogg", np.stack([make_speechlike(1.0, 44100, 2)] * 2, 1), 44100)
    sf.write(silent / "Quiet.ogg", np.zeros(44100, np.float32), 44100)
    out = tmp_path / "corpus"
    r = subprocess.run([sys.executable, "samples/recipes/make_real_speech_corpus.py", "--out", str(out),
                        "--root", str(root), "--no-fetch", "--perturb", "1", "--workers", "1",
                        "--pack", str(tmp_path / "pack.npy")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "Quiet.ogg" in r.stderr  # a warning, not a crash
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    by_split = {s: {row["speaker"] for row in rows if row["split"] == s} for s in ("train", "val")}
    assert by_split["train"] == {"festvox-ru:nsh"} and by_split["val"] == {"hedgewars:British"}
    assert not by_split["train"] & by_split["val"]
    assert len([row for row in rows if row["split"] == "train"]) == 2  # original + speed copy
    for row in rows:
        x, rate = sf.read(out / row["file"])
        assert rate == 16000 and x.ndim == 1 and abs(len(x) / rate - row["seconds"]) < 1e-3
        assert {"package", "version", "path", "licence", "speaker", "language"} <= set(row)
    pack = np.load(tmp_path / "pack.npy")
    meta = json.loads((tmp_path / "pack.json").read_text())
    assert meta["total"] == len(pack) and meta["count"] == 2 and meta["sample_rate"] == 16000
    assert {e["source"] for e in meta["examples"]} == {str(out / r["file"]) for r in rows if r["split"] == "train"}
