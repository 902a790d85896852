"""The detail layer (vqcodec.codec.detail): quality levels above a model's VQ stages."""

import io
import json

import numpy as np
import pytest

from conftest import compress_json, corrected, random_image_model, run_cli


def _noisy(rng, shape, base=None, spread=40):
    x = rng.integers(0, 256, shape) if base is None else base + rng.integers(-spread, spread + 1, shape)
    return np.clip(x, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("step, channels", [(52, 3), (13.5, 3), (1, 3), (20, 1)])
def test_the_decoder_rebuilds_exactly_what_the_encoder_reconstructed(step, channels):
    from vqcodec.codec import detail

    rng = np.random.default_rng(int(step * 2))
    base = _noisy(rng, (43, 61, 3))  # sizes that are not multiples of a block
    rgb = _noisy(rng, base.shape, base.astype(int))
    if channels == 1:
        rgb[..., 1] = rgb[..., 2] = rgb[..., 0]
    data, rec = detail.encode(rgb, base.copy(), step, channels)
    assert np.array_equal(detail.decode(data, base.copy(), step, channels), rec)
    before = np.abs(rgb.astype(int) - base).mean()
    after = np.abs(rgb.astype(int) - rec).mean()
    assert after < before
    if step == 1:  # escapes (magnitudes far over 15) and a fine step: within a level or so
        assert after < 1.0


def test_extreme_residuals_escape_and_come_back():
    from vqcodec.codec import detail

    base = np.zeros((16, 24, 3), np.uint8)
    rgb = np.full_like(base, 255)
    rgb[:8, :8] = (255, 0, 0)
    data, rec = detail.encode(rgb, base.copy(), 1, 3)
    assert np.array_equal(detail.decode(data, base.copy(), 1, 3), rec)
    assert np.abs(rec.astype(int) - rgb).max() <= 2


def test_finer_steps_cost_more_and_err_less():
    from vqcodec.codec import detail

    rng = np.random.default_rng(5)
    base = _noisy(rng, (64, 64, 3))
    rgb = _noisy(rng, base.shape, base.astype(int))
    sizes, errors = [], []
    for step in (128, 52, 22, 8):
        data, rec = detail.encode(rgb, base.copy(), step, 3)
        sizes.append(len(data))
        errors.append(float(np.mean((rec.astype(float) - rgb) ** 2)))
    assert sizes == sorted(sizes) and errors == sorted(errors, reverse=True)


@pytest.fixture(scope="module")
def detail_model(tmp_path_factory):
    """A tiny one-stage image model with the detail levels and random weights."""
    return random_image_model(tmp_path_factory.mktemp("detail") / "detail.safetensors", detail=True)


_compress = compress_json


def test_every_detail_level_round_trips_exactly_through_the_cli(detail_model, photo, tmp_path):
    from PIL import Image

    from vqcodec import api
    from vqcodec.codec import detail
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.codec.params import DETAIL_STEPS, DETAIL_UNIT
    from vqcodec.media import read_image

    model = api.get_model(str(detail_model), "image")
    assert model.config.levels == 8 and model.config.default_level == 4
    rgb, _ = read_image(str(photo))
    idx = encode_indices(model, rgb)
    base = corrected(rgb, decompress_indices(model, idx, 72, 56), idx)
    sizes, errors = [], []
    for q in range(1, 9):
        vqc, png = tmp_path / f"{q}.vqc", tmp_path / f"{q}.png"
        report = _compress(detail_model, photo, vqc, "--quality", str(q))
        info = json.loads(run_cli("info", vqc, "--json").stdout)
        assert report["level"] == info["level"] == q and info["stages"] == 1
        step = DETAIL_STEPS[q - 2] / DETAIL_UNIT if q > 1 else 0
        assert info["detail"] == step and info["version"] == (8 if q > 1 else 5)
        assert (report["detail_bytes"] > 0) == (q > 1)
        r = run_cli("decompress", vqc, "--model", detail_model, "-o", png)
        assert r.returncode == 0, r.stderr
        want = detail.encode(rgb, base.copy(), step, 3)[1] if q > 1 else base
        got = np.asarray(Image.open(png))
        assert np.array_equal(got, want)
        sizes.append(vqc.stat().st_size)
        errors.append(float(np.mean((got.astype(float) - rgb) ** 2)))
    assert sizes == sorted(sizes) and errors == sorted(errors, reverse=True)


def test_the_default_level_codes_a_detail_layer_and_bpp_picks_among_them(detail_model, photo, tmp_path):
    report = _compress(detail_model, photo, tmp_path / "d.vqc")
    assert report["level"] == 4
    r = run_cli("compress", photo, "--model", detail_model, "-o", tmp_path / "v.vqc", "-v")
    assert f"at level 4 (detail layer {report['detail_bytes']} bytes; index stream".encode() in r.stderr
    bpp = {q: _compress(detail_model, photo, tmp_path / f"{q}.vqc", "--quality", str(q))["bpp"]
           for q in (5, 6)}
    got = _compress(detail_model, photo, tmp_path / "b.vqc", "--bpp", f"{(bpp[5] + bpp[6]) / 2:.5f}")
    assert got["level"] == 5
    assert (tmp_path / "b.vqc").read_bytes() == (tmp_path / "5.vqc").read_bytes()


def test_without_colour_correction_the_detail_layer_still_codes(detail_model, photo, tmp_path):
    from PIL import Image

    from vqcodec import api
    from vqcodec.codec import detail
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.media import read_image

    vqc = tmp_path / "n.vqc"
    _compress(detail_model, photo, vqc, "--quality", "3", "--no-colour-correction")
    info = json.loads(run_cli("info", vqc, "--json").stdout)
    assert info["version"] == 8 and info["colour"] == 0 and info["level"] == 3
    assert run_cli("decompress", vqc, "--model", detail_model, "-o", tmp_path / "n.png").returncode == 0
    model = api.get_model(str(detail_model), "image")
    rgb, _ = read_image(str(photo))
    base = decompress_indices(model, encode_indices(model, rgb), 72, 56)
    want = detail.encode(rgb, base, 80, 3)[1]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "n.png")), want)


def test_a_model_without_the_detail_layer_refuses_its_levels(image_model, photo, tmp_path):
    r = run_cli("compress", photo, "--model", image_model, "-o", tmp_path / "x.vqc", "--quality", "4")
    assert r.returncode == 1 and b"has one level (1)" in r.stderr
    assert not (tmp_path / "x.vqc").exists()


def _parts(path):
    from vqcodec.codec import container

    stream = io.BytesIO(path.read_bytes())
    header = container.read_header(stream)
    return header, container.read_record(stream).payload


@pytest.mark.parametrize("change, message", [
    ({"detail": 3}, b"malformed stream: a detail layer of step 3/4"),
    ({"colour": 0, "flat": 0}, b"maps disagree with its header"),
])
def test_a_forged_detail_header_is_one_line_and_exit_2(detail_model, photo, tmp_path, change, message):
    import dataclasses

    from vqcodec.codec import container

    vqc = tmp_path / "a.vqc"
    _compress(detail_model, photo, vqc, "--quality", "4")
    header, payload = _parts(vqc)
    header.params = dataclasses.replace(header.params, **change)
    vqc.write_bytes(header.to_bytes() + container.record_bytes(payload, last=True))
    r = run_cli("decompress", vqc, "--model", detail_model, "-o", tmp_path / "out.png")
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "out.png").exists()


def test_a_damaged_detail_layer_is_refused_not_decoded(detail_model, photo, tmp_path):
    """Its bytes are covered by the record checksum: flipping one is caught before decoding."""
    from vqcodec.codec import container

    vqc = tmp_path / "a.vqc"
    _compress(detail_model, photo, vqc, "--quality", "6")
    header, payload = _parts(vqc)
    damaged = payload[:-5] + bytes([payload[-5] ^ 0x10]) + payload[-4:]
    vqc.write_bytes(header.to_bytes() + container.record_bytes(damaged, last=True)[:-4]
                    + container.record_bytes(payload, last=True)[-4:])
    r = run_cli("decompress", vqc, "--model", detail_model, "-o", tmp_path / "out.png")
    assert r.returncode == 2 and b"checksum" in r.stderr and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("height, width", [(200, 37), (17, 64), (9, 9), (1, 1)])
def test_bands_give_the_pixels_one_band_gives_and_deblocking_moves_only_block_edges(monkeypatch, height, width):
    """The decoder adds the residual band by band (bounded memory); the deblocking across the
    block edges between bands must give what one band for the whole image gives."""
    from vqcodec.codec import detail

    rng = np.random.default_rng(height)
    base = _noisy(rng, (height, width, 3))
    rgb = _noisy(rng, base.shape, base.astype(int), spread=60)
    q = detail.quantise(rgb, base, 6, 3)
    whole = detail.add(base.copy(), q, 6, 3)
    for rows in (1, 3):
        monkeypatch.setattr(detail, "BAND_ROWS", rows)
        assert np.array_equal(detail.add(base.copy(), q, 6, 3), whole)
    monkeypatch.setattr(detail, "DEBLOCK", 0.0)
    plain = detail.add(base.copy(), q, 6, 3)
    if height > 8:  # block edges inside: the deblocking moved pixels beside them, and only those
        moved = np.argwhere((plain != whole).any(-1))
        assert len(moved) and all(r % 8 in (7, 0) or c % 8 in (7, 0) for r, c in moved)
