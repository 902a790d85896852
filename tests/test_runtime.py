"""The numpy runtime against the torch modules it replaces at inference.

Tolerance: float outputs within 1e-4 absolute (measured: about 1e-6 on the bundled models);
codebook indices from the encoders must be identical, since they decide the stream.
"""

import numpy as np
import pytest
import torch

from vqcodec.models.modelfile import load_model
from vqcodec.runtime.image import to_input
from vqcodec.runtime.resample import resample

TOL = 1e-4


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(7 * x + 1) * np.cos(5 * y), np.sin(3 * x * y + 2), x - y], -1)
    img += 0.1 * rng.standard_normal(img.shape)
    return ((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)


def _speech(seconds: float, seed: int = 0) -> np.ndarray:
    from conftest import make_speechlike

    wave = make_speechlike(seconds, 16000, seed)
    return wave[: len(wave) // 320 * 320]


def check_image(model, rgb: np.ndarray) -> None:
    x = to_input(rgb)
    with torch.inference_mode():
        want_idx = model.net.encode(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0, 0].numpy()
        want = model.net.decode(torch.from_numpy(want_idx)[None, None])[0].numpy().transpose(1, 2, 0)
    assert np.array_equal(model.runtime.encode(x), want_idx)
    assert np.abs(model.runtime.decode(want_idx) - want).max() < TOL


def check_speech(model, wave: np.ndarray) -> None:
    stages = model.config.stages
    with torch.inference_mode():
        t = torch.from_numpy(wave)[None]
        want_feat = model.net.features(t)[0].numpy()
        want_idx = model.net.encode(t, stages)[0].numpy()
        z = model.net.quantizer.decode(torch.from_numpy(want_idx)[None])
        want = model.net.synthesize(z, len(wave))[0].numpy()
    assert np.abs(model.runtime.features(wave) - want_feat).max() < TOL * 10  # log-mel, |x| ~ 10
    assert np.array_equal(model.runtime.encode(wave, stages), want_idx)
    assert np.abs(model.runtime.lookup(want_idx) - z[0].numpy()).max() < TOL
    assert np.abs(model.runtime.synthesize(z[0].numpy(), len(wave)) - want).max() < TOL


def test_tiny_image_model_matches_torch(image_model):
    check_image(load_model(image_model), _photo(72, 104))


def test_tiny_speech_model_matches_torch(speech_model):
    check_speech(load_model(speech_model), _speech(1.3))


def test_bundled_image_model_matches_torch():
    check_image(load_model("image-default"), _photo(128, 192))


def test_bundled_speech_model_matches_torch():
    check_speech(load_model("speech-default"), _speech(2.0))


@pytest.mark.parametrize("orig,new", [(16000, 8000), (8000, 16000), (44100, 16000), (16000, 48000)])
def test_resampling_matches_torchaudio(orig, new):
    import torchaudio.functional as AF

    x = np.random.default_rng(1).standard_normal(12345).astype(np.float32)
    want = AF.resample(torch.from_numpy(x)[None], orig, new)[0].numpy()
    got = resample(x, orig, new)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-5


def test_strided_and_transposed_convolutions_match_torch():
    from vqcodec.runtime import ops

    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 11, 13)).astype(np.float32)  # (C, H, W)
    xt = torch.from_numpy(x)[None]
    for k, s, p in [(3, 1, 1), (4, 2, 1), (1, 1, 0), (5, 3, 2)]:
        w = rng.standard_normal((6, 4, k, k)).astype(np.float32)
        want = torch.nn.functional.conv2d(xt, torch.from_numpy(w), stride=s, padding=p)[0].numpy()
        got = ops.conv2d(x.transpose(1, 2, 0), w, None, s, p).transpose(2, 0, 1)
        assert np.abs(got - want).max() < TOL
    for k, s, p in [(4, 2, 1), (2, 2, 0), (6, 3, 1)]:
        w = rng.standard_normal((4, 6, k, k)).astype(np.float32)
        want = torch.nn.functional.conv_transpose2d(xt, torch.from_numpy(w), stride=s, padding=p)[0].numpy()
        got = ops.conv_transpose2d(x.transpose(1, 2, 0), w, None, s, p).transpose(2, 0, 1)
        assert np.abs(got - want).max() < TOL


@pytest.mark.parametrize("band_bytes", [1, 1 << 20], ids=["one-row-bands", "default-bands"])
@pytest.mark.parametrize("c_in, c_out", [(3, 5), (24, 5), (40, 2), (520, 64)],
                         ids=["unfold-narrow", "unfold-wide", "shifted-outputs", "per-tap-products"])
def test_every_convolution_path_matches_torch_with_bias(band_bytes, c_in, c_out, monkeypatch):
    """Each way `_conv_s1` combines taps, in bands of one row or many, on odd sizes."""
    from vqcodec.runtime import ops

    monkeypatch.setattr(ops, "BAND_BYTES", band_bytes)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((c_in, 7, 9)).astype(np.float32)
    xt = torch.from_numpy(x)[None]
    for k, s, p in [(3, 1, 1), (4, 2, 1), (3, 2, 0)]:
        w = rng.standard_normal((c_out, c_in, k, k)).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        want = torch.nn.functional.conv2d(xt, torch.from_numpy(w), torch.from_numpy(b), s, p)
        got = ops.conv2d(x.transpose(1, 2, 0), w, b, s, p).transpose(2, 0, 1)
        assert np.abs(got - want[0].numpy()).max() < TOL * np.sqrt(c_in)
    for k, s, p in [(4, 2, 1), (6, 3, 0)]:
        w = rng.standard_normal((c_in, c_out, k, k)).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        want = torch.nn.functional.conv_transpose2d(xt, torch.from_numpy(w), torch.from_numpy(b), s, p)
        got = ops.conv_transpose2d(x.transpose(1, 2, 0), w, b, s, p).transpose(2, 0, 1)
        assert np.abs(got - want[0].numpy()).max() < TOL * np.sqrt(c_in)


@pytest.mark.parametrize("shape", [(5,), (3, 7000), (1001, 576)])  # 7000 x 3 crosses blocks
def test_gelu_matches_torch_across_blocks_and_layouts(shape):
    from vqcodec.runtime import ops

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * rng.choice([0.01, 1, 4, 40], size=shape)).astype(np.float32)
    want = torch.nn.functional.gelu(torch.from_numpy(x).double()).numpy()
    for arr, ref in ((x, want), (np.asfortranarray(x), want), (x[..., ::2], want[..., ::2])):
        got = ops.gelu(arr)
        assert got.dtype == np.float32 and got.shape == arr.shape
        assert np.abs(got - ref).max() < 2e-6 * max(1.0, np.abs(ref).max())


def test_gelu_table_is_within_its_stated_error_everywhere():
    """The table GELU against erf in float64 on a dense grid, tiny and huge values, and the
    special values: 1.1e-6 at most; +inf and huge values pass through, NaN and -inf give NaN
    (torch's AVX2 kernel agrees; its AVX-512 kernel gives NaN for +inf and overflows huge values
    to inf, so the values are spelled out instead of compared with torch's)."""
    import math

    from vqcodec.runtime import ops

    x = np.concatenate([np.linspace(-12, 12, 400001), np.geomspace(1e-38, 1e6, 20001),
                        -np.geomspace(1e-38, 1e6, 20001)]).astype(np.float32)
    want = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])
    assert np.abs(ops.gelu(x) - want).max() < 1.1e-6
    tiny = np.abs(x) < 1e-3
    assert (np.abs(ops.gelu(x) - want)[tiny] <= 1e-6 * np.abs(want[tiny])).all()
    special = np.array([np.inf, -np.inf, np.nan, 0.0, 3e38, -3e38], dtype=np.float32)
    got = ops.gelu(special)
    assert np.array_equal(got, np.array([np.inf, np.nan, np.nan, 0.0, 3e38, 0.0], dtype=np.float32),
                          equal_nan=True)


def test_convnext_in_blocks_of_frames_matches_torch_and_the_whole_array(monkeypatch):
    """A ConvNeXt layer runs block by block of frames, its depthwise convolution too: the
    output is the torch block's, and the same floats whatever the block size."""
    from vqcodec.networks.arch import ConvNeXt
    from vqcodec.networks.layers import sequential
    from vqcodec.runtime import nets

    spec = ConvNeXt(c=16, hidden=48, kernel=7)
    torch.manual_seed(0)
    module = sequential([spec], 1)
    params = {"net." + k: v.numpy() for k, v in module.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((16, 45)).astype(np.float32)
    with torch.inference_mode():
        want = module(torch.from_numpy(x)[None])[0].numpy()
    whole = nets.sequential([spec], params, "net", x)
    monkeypatch.setattr(nets, "ROWS", 8)  # 6 blocks, the last one short
    got = nets.sequential([spec], params, "net", x)
    assert np.abs(got - want).max() < TOL
    assert np.array_equal(got, whole)
