"""Model files: compact storage that round-trips, fingerprints that name the contents."""

import torch

from conftest import TINY_IMAGE
from vqcodec.models import modelfile
from vqcodec.networks.image_model import ImageModelConfig, ImageVQVAE
from vqcodec.prior import GatedPixelCNN


def _model():
    torch.manual_seed(0)
    cfg = ImageModelConfig(**{**TINY_IMAGE, "widths": [16, 32, 64, 64]})
    return cfg, ImageVQVAE(cfg), GatedPixelCNN(cfg.prior).to_integer()


def test_large_weights_are_stored_in_int8_and_restored_within_half_a_step(tmp_path):
    cfg, net, prior = _model()
    path = tmp_path / "m.safetensors"
    modelfile.save_model(path, "image", net, prior, {})
    from safetensors.torch import load_file

    stored = load_file(str(path))
    big = [k for k, v in stored.items() if v.dtype == torch.int8]
    assert big and all(f"scale.{k}" in stored for k in big)
    assert stored["net.quantizer.stages.0.codebook"].dtype == torch.float16  # codes stay float
    loaded = modelfile.load_model(path).net.state_dict()
    for name, w in net.state_dict().items():
        if f"net.{name}" in big:
            scale = stored[f"scale.net.{name}"].view(-1, *[1] * (w.dim() - 1))
            assert ((loaded[name] - w).abs() <= scale / 2 + 1e-6).all(), name


def test_fingerprint_covers_weights_but_not_the_measurements(tmp_path):
    cfg, net, prior = _model()
    a = modelfile.save_model(tmp_path / "a.safetensors", "image", net, prior, {"measured": {"x": 1}})
    b = modelfile.save_model(tmp_path / "b.safetensors", "image", net, prior, {"measured": {"x": 2}})
    assert a == b
    with torch.no_grad():
        net.decoder.net[0].weight.mul_(1.5)
    c = modelfile.save_model(tmp_path / "c.safetensors", "image", net, prior, {})
    assert c != a
    assert modelfile.load_model(tmp_path / "c.safetensors").fingerprint == c


def test_saved_and_measured_models_are_readable_by_others(tmp_path):
    """safetensors writes 0600 files: a new model gets the umask's permissions, and recording a
    measurement keeps the permissions the file had."""
    import os

    cfg, net, prior = _model()
    path = tmp_path / "m.safetensors"
    old = os.umask(0o022)
    try:
        modelfile.save_model(path, "image", net, prior, {})
        assert path.stat().st_mode & 0o777 == 0o644
        os.chmod(path, 0o640)
        modelfile.write_info(path, "measured", {"x": 1})
        assert path.stat().st_mode & 0o777 == 0o640
        assert not list(tmp_path.glob("*.tmp"))
    finally:
        os.umask(old)
