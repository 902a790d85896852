"""Commands that code files, or only look at them, run without torch.

A shim first on PYTHONPATH makes `import torch` (and torchaudio) fail in the subprocess, as on
an install without the training extra.
"""

import pytest

from conftest import make_image, make_speechlike, run_cli


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> dict:
    shim = tmp_path_factory.mktemp("no_torch")
    for name in ("torch", "torchaudio"):
        (shim / name).mkdir()
        (shim / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError('No module named {name}', name='{name}')\n")
    return {"PYTHONPATH": str(shim)}


def test_coding_commands_never_import_pydantic(no_torch, image_model, tmp_path):
    """typer would coerce options through pydantic (0.1-0.2 s of start-up): ours need not."""
    shim = tmp_path / "shim"
    (shim / "pydantic").mkdir(parents=True)
    (shim / "pydantic" / "__init__.py").write_text(
        "raise ModuleNotFoundError('No module named pydantic', name='pydantic')\n")
    env = {"PYTHONPATH": f"{shim}:{no_torch['PYTHONPATH']}"}
    src = make_image(tmp_path / "a.png", 40, 24, seed=7)
    r = run_cli("compress", src, "--model", image_model, "--jobs", "1", "--max-seconds", "9.5", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("decompress", tmp_path / "a.png.vqc", "-o", tmp_path / "b.png", "--model",
                image_model, env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("compress", src, "--jobs", "two", env=env)
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"'two' is not an integer" in r.stderr


def test_help_info_models_and_usage_errors_need_no_torch(no_torch):
    assert run_cli("--help", env=no_torch).returncode == 0
    r = run_cli("info", "tests/golden/image.vqc", env=no_torch)
    assert r.returncode == 0 and b"image" in r.stdout
    r = run_cli("models", env=no_torch)
    assert r.returncode == 0 and b"speech-default" in r.stdout
    r = run_cli("compress", "--no-such-option", env=no_torch)
    assert r.returncode != 0 and b"torch" not in r.stderr


def test_images_round_trip_without_torch(no_torch, image_model, tmp_path):
    src = make_image(tmp_path / "a.png", 80, 56, seed=5)
    r = run_cli("compress", src, "--model", image_model, env=no_torch)
    assert r.returncode == 0, r.stderr
    r = run_cli("decompress", tmp_path / "a.png.vqc", "-o", tmp_path / "b.png", "--model",
                image_model, env=no_torch)
    assert r.returncode == 0, r.stderr
    from PIL import Image

    assert Image.open(tmp_path / "b.png").size == (80, 56)


def test_speech_round_trips_without_torch(no_torch, speech_model, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", make_speechlike(1.0, 22050, 1), 22050)  # resampled both ways
    r = run_cli("compress", tmp_path / "a.wav", "--model", speech_model, env=no_torch)
    assert r.returncode == 0, r.stderr
    r = run_cli("decompress", tmp_path / "a.wav.vqc", "-o", tmp_path / "b.wav", "--model",
                speech_model, env=no_torch)
    assert r.returncode == 0, r.stderr
    assert sf.info(str(tmp_path / "b.wav")).frames == 22050


def test_bundled_models_code_without_torch(no_torch, tmp_path):
    src = make_image(tmp_path / "c.png", 64, 48, seed=6)
    assert run_cli("compress", src, env=no_torch).returncode == 0
    r = run_cli("decompress", tmp_path / "c.png.vqc", "-o", tmp_path / "d.png", env=no_torch)
    assert r.returncode == 0, r.stderr


def test_training_without_torch_says_what_to_install(no_torch, tmp_path):
    r = run_cli("train", "image", "--data", tmp_path, "--out", tmp_path / "m.safetensors", env=no_torch)
    assert r.returncode == 1
    assert b"vqcodec[train]" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_packing_needs_no_torch(no_torch, tmp_path):
    import soundfile as sf

    (tmp_path / "sp").mkdir()
    sf.write(tmp_path / "sp" / "a.wav", make_speechlike(1.0, 8000, 3), 8000)
    r = run_cli("pack", "speech", tmp_path / "sp", "-o", tmp_path / "p.npy", env=no_torch)
    assert r.returncode == 0, r.stderr
    import numpy as np

    assert len(np.load(tmp_path / "p.npy")) == 16000  # 1 s, resampled to 16 kHz
