"""Quantizers: gradients, EMA updates, NSVQ's noise, dead-code restarts, hard inference."""

import pytest
import torch

from vqcodec.quantizers import EMAQuantizer, NSVQuantizer, ResidualVQ, STEQuantizer


def _init(q, z):
    q.train()
    q(z)  # the first training call seeds the codebook (k-means++)


def test_ste_gradients_reach_encoder_and_codebook():
    torch.manual_seed(0)
    q = STEQuantizer(16, 4)
    z = torch.randn(64, 4, requires_grad=True)
    _init(q, z.detach())
    out = q(z)
    (out.quantized.sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert q.codebook.grad is not None and q.codebook.grad.abs().sum() > 0


def test_nsvq_gradients_reach_encoder_and_codebook_without_extra_loss():
    torch.manual_seed(0)
    q = NSVQuantizer(16, 4)
    z = torch.randn(64, 4, requires_grad=True)
    _init(q, z.detach())
    out = q(z)
    assert float(out.loss) == 0.0
    out.quantized.pow(2).sum().backward()
    assert z.grad.abs().sum() > 0 and q.codebook.grad.abs().sum() > 0


def test_nsvq_substituted_error_has_the_norm_of_the_true_error():
    torch.manual_seed(0)
    q = NSVQuantizer(8, 5)
    z = torch.randn(100, 5)
    codes = q.lookup(q.nearest(z))
    noisy = q.substitute(z, codes)
    assert torch.allclose((noisy - z).norm(dim=1), (codes - z).norm(dim=1), atol=1e-5)
    assert not torch.allclose(noisy, codes)


@pytest.mark.parametrize("cls", [STEQuantizer, EMAQuantizer, NSVQuantizer])
def test_inference_is_hard_nearest_neighbour(cls):
    torch.manual_seed(0)
    q = cls(16, 4)
    z = torch.randn(50, 4)
    _init(q, z)
    q.eval()
    out = q(z)
    d = torch.cdist(z, q.codebook.detach())
    assert torch.equal(out.indices, d.argmin(1))
    assert torch.allclose(out.quantized, q.codebook[out.indices])


def test_ema_codebook_moves_without_an_optimizer():
    torch.manual_seed(0)
    q = EMAQuantizer(8, 3, decay=0.5)
    z = torch.randn(40, 3)
    _init(q, z)
    before = q.codebook.detach().clone()
    q(z + 3.0)
    assert not torch.allclose(before, q.codebook.detach())
    assert not q.codebook.requires_grad


def test_dead_code_restart_revives_unused_codes():
    torch.manual_seed(0)
    q = STEQuantizer(8, 2, dead_after=2)
    _init(q, torch.randn(100, 2))
    q.codebook.data[:4] = 100.0  # four codes far from any data: never chosen
    for _ in range(3):
        q(torch.randn(100, 2))
    assert bool((q.codebook.detach()[:4].abs() < 50).all())


def test_health_reports_usage_and_perplexity():
    q = STEQuantizer(4, 2)
    q.counts.copy_(torch.tensor([10.0, 10.0, 0.0, 0.0]))
    h = q.health()
    assert h["used"] == 2 and h["dead"] == 2 and abs(h["perplexity"] - 2.0) < 1e-6


def test_residual_vq_prefixes_decode_consistently():
    torch.manual_seed(0)
    rvq = ResidualVQ("ema", 3, 16, 4)
    z = torch.randn(2, 4, 10)
    rvq.train()
    rvq(z)
    rvq.eval()
    q, idx, _, _ = rvq(z, 2)
    assert idx.shape == (2, 2, 10)
    assert torch.allclose(rvq.decode(idx), q, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ste", "ema", "nsvq"])
def test_a_model_trained_with_each_quantizer_round_trips(kind, media, tmp_path):
    import numpy as np

    from conftest import TINY_IMAGE, corrected
    from vqcodec import api
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.media import read_image
    from vqcodec.train.trainer import TrainOptions, train

    out = tmp_path / f"{kind}.safetensors"
    train(TrainOptions("image", str(media / "img"), out, steps=8, prior_steps=4, batch=4, crop=32,
                       prior_crop=64, prior_examples=8, quantizer=kind, model=TINY_IMAGE))
    model = api.load_any_model(str(out))
    assert model.config.quantizer == kind
    src = media / "img" / "0.png"
    rgb, _ = read_image(str(src))
    idx = encode_indices(model, rgb)
    decoded = decompress_indices(model, idx, rgb.shape[1], rgb.shape[0])
    want = corrected(rgb, decoded, idx)  # with the encoder's colour map and flat blocks
    got = api.decompress(api.compress(str(src), model=str(out), quality=1), model=str(out))
    assert np.array_equal(got, want)
    assert model.config.levels == 8  # and the detail levels above (tests/test_detail.py)
