"""Shared fixtures: generated media, the committed tiny models, and the CLI in-process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_IMAGE = {"widths": [8, 16, 16, 16], "latent_dim": 8, "codebook_size": 32, "blocks": 1,
              "prior": {"codebook_size": 32, "channels": 16, "layers": 2}}
TINY_SPEECH = {"width": 32, "dec_blocks": 1, "latent_dim": 8, "codebook_size": 32, "stages": 2,
               "default_stages": 2,
               "prior": {"codebook_size": 32, "stages": 2, "channels": 16, "dilations": [1, 2]}}
# An imitation of another CPU: other kernels, other instruction sets, one thread.
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
             "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "1"}


def random_image_model(path: Path, **config) -> Path:
    """A tiny image model (TINY_IMAGE with `config`) with random weights: coding is exact
    whatever the weights, and quality is not what the tests using it measure."""
    import torch

    from vqcodec.models.modelfile import save_model
    from vqcodec.networks.config import ImageModelConfig
    from vqcodec.networks.image_model import ImageVQVAE
    from vqcodec.prior import GatedPixelCNN

    torch.manual_seed(0)
    cfg = ImageModelConfig(**{**TINY_IMAGE, **config})
    net = ImageVQVAE(cfg).eval()
    save_model(path, "image", net, GatedPixelCNN(cfg.prior).to_integer(), {})
    return path


@pytest.fixture(scope="session")
def photo(tmp_path_factory):
    """A small generated image (72x56, flat regions and shapes) for the image level tests."""
    return make_image(tmp_path_factory.mktemp("levels") / "p.png", 72, 56, seed=11)


def compress_json(model, src, out, *args) -> dict:
    """`vqcodec compress SRC --model MODEL -o OUT -f --json ARGS`'s report; it must succeed."""
    r = run_cli("compress", src, "--model", model, "-o", out, "-f", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def make_image(path: Path, w: int, h: int, seed: int, mode: str = "RGB") -> Path:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        d.ellipse([x0, y0, x0 + int(rng.integers(5, 60)), y0 + int(rng.integers(5, 60))],
                  fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    im.convert(mode).save(path)
    return path


def corrected(rgb: np.ndarray, decoded: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """What the decoder outputs for `decoded`, the network's decoding of `rgb`'s indices `idx`:
    with the colour correction map and, where the encoder sends one, the flat block map."""
    from vqcodec.codec import colour, flat
    from vqcodec.codec.image import correction_maps

    colour_map, flat_map = correction_maps(rgb, decoded, flat.find(rgb), idx)
    q = colour.decode(colour_map, colour.grid(*rgb.shape[:2]))
    out = colour.apply(decoded, q)
    return flat.paint(out, flat.decode(flat_map, flat.same_as_left(idx))) if flat_map else out


def make_speechlike(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A voiced, pitch-gliding harmonic signal with a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    harmonics = np.arange(1, 25)
    amps = 1 / harmonics * (1 + np.sin(harmonics * (1 + seed)))
    x = sum(a * np.sin(k * phase) for k, a in zip(harmonics, amps) if k * f0.max() < rate / 2)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.3 * t)
    return (0.15 * x * env + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    import soundfile as sf

    root = tmp_path_factory.mktemp("media")
    (root / "img").mkdir()
    (root / "sp").mkdir()
    for i in range(6):
        make_image(root / "img" / f"{i}.png", 160, 128, i)
    for i in range(4):
        sf.write(root / "sp" / f"{i}.wav", make_speechlike(3.0, 16000, i), 16000)
    return root


@pytest.fixture(scope="session")
def image_model(tmp_path_factory) -> Path:
    """A tiny image model: the committed golden one (trained by tests/golden/make_golden.py
    with TINY_IMAGE), copied so tests may name and modify it. Training itself is tested in the
    slow suite."""
    out = tmp_path_factory.mktemp("models") / "img.safetensors"
    shutil.copy(ROOT / "tests" / "golden" / "tiny-image.safetensors", out)
    return out


@pytest.fixture(scope="session")
def speech_model(tmp_path_factory) -> Path:
    """A tiny speech model (TINY_SPEECH), the committed golden one, copied."""
    out = tmp_path_factory.mktemp("models") / "sp.safetensors"
    shutil.copy(ROOT / "tests" / "golden" / "tiny-speech.safetensors", out)
    return out


class CliResult:
    """What a CLI run left behind, shaped like subprocess.CompletedProcess."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli(*args: str, input: bytes | None = None, env: dict | None = None,
            timeout: float = 120) -> CliResult:
    """The CLI in this process (Typer's CliRunner): fast, and what most tests need. With `env`
    the run needs a process of its own (the imitated CPU is read at start-up): see run_process."""
    if env is not None:
        return run_process(*args, input=input, env=env, timeout=timeout)
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout_bytes, result.stderr_bytes or b"")


def default_signals() -> None:
    """preexec_fn for a CLI process a test signals: a shell's background jobs inherit SIGINT
    ignored, and nohup SIGHUP; the CLI leaves ignored signals alone."""
    import signal

    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def run_process(*args: str, input: bytes | None = None, env: dict | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess: for pipes, signals, --jobs and other CPUs."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], input=input,
                          capture_output=True, env=full_env, timeout=timeout, cwd=ROOT)
