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


def test_a_speech_models_default_stage_count_changes_but_its_streams_still_decode(speech_model, image_model, tmp_path):
    """set_default_stages: compress without --stages then codes the new default (1.5: the
    second stage on half the frames), streams made before decode to the same indices, the
    codes id streams carry stays, and the measurement taken at the old default is dropped."""
    import json
    import shutil

    import numpy as np
    import pytest
    import soundfile as sf

    from conftest import make_speechlike, run_cli
    from vqcodec.errors import ModelError, UsageError

    sf.write(tmp_path / "a.wav", make_speechlike(1.5, 16000, seed=20), 16000)
    old_model, new_model = tmp_path / "old.safetensors", tmp_path / "new.safetensors"
    shutil.copy(speech_model, old_model)  # copies: the CLI caches models by path
    modelfile.write_info(old_model, "measured", {"rate": "0.8 kbit/s with 2 stages"})
    before = modelfile.load_model(old_model)
    assert run_cli("compress", tmp_path / "a.wav", "--model", old_model, "-o", tmp_path / "old.vqc").returncode == 0
    run_cli("decompress", tmp_path / "old.vqc", "--model", old_model, "--indices", tmp_path / "old.npy")

    shutil.copy(old_model, new_model)
    fp = modelfile.set_default_stages(new_model, 1.5)
    after = modelfile.load_model(new_model)
    assert after.fingerprint == fp != before.fingerprint and after.codes == before.codes
    assert after.config.default_stages == 1.5 and "measured" not in after.info
    r = run_cli("decompress", tmp_path / "old.vqc", "--model", new_model, "--indices", tmp_path / "again.npy")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "again.npy"), np.load(tmp_path / "old.npy"))
    assert run_cli("compress", tmp_path / "a.wav", "--model", new_model, "-o", tmp_path / "new.vqc").returncode == 0
    info = json.loads(run_cli("info", tmp_path / "new.vqc", "--json").stdout)
    assert (info["version"], info["stages"], info["share"]) == (9, 2, 128)  # 9: level control

    with pytest.raises(UsageError, match="between 1 and 2"):
        modelfile.set_default_stages(new_model, 2.5)
    with pytest.raises(ModelError, match="only speech models"):
        modelfile.set_default_stages(image_model, 1)


def test_a_scale_that_does_not_fit_its_weight_is_refused_on_loading(tmp_path):
    """Weights are converted from int8 when a network first runs, but a file whose scales do
    not fit (a writer's bug: the fingerprint is its own) is refused as it loads, as before."""
    import pytest
    from safetensors.numpy import load_file

    from vqcodec.errors import ModelError

    cfg, net, prior = _model()
    path = tmp_path / "m.safetensors"
    modelfile.save_model(path, "image", net, prior, {})
    tensors = load_file(str(path))
    name = next(k for k in tensors if k.startswith("scale.net.decoder."))
    tensors[name] = tensors[name][:-1]  # one output channel short
    meta = modelfile.read_metadata(path)
    meta["fingerprint"] = modelfile._fingerprint("image", meta["config"], tensors).hex()
    modelfile._rewrite(path, tensors, meta)
    with pytest.raises(ModelError, match="does not match its configuration"):
        modelfile.load_model(path)
