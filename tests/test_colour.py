"""The colour correction map (vqcodec.codec.colour): exact coding, what it corrects, the
stream format around it, and flat colours on the bundled model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_image, run_cli
from vqcodec.codec import colour, container
from vqcodec.codec.image import join_payload, read_image_stream, split_payload
from vqcodec.errors import BadStreamError


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (16, 24)])
def test_the_map_round_trips_exactly_including_its_extremes(shape):
    rng = np.random.default_rng(sum(shape))
    q = rng.choice([-2, -1, 0, 1, 2], shape + (3,), p=[0.05, 0.15, 0.6, 0.15, 0.05])
    q[0, 0] = (colour.LIMIT, -colour.LIMIT, 0)
    data = colour.encode(q)
    assert np.array_equal(colour.decode(data, shape), q)
    if shape == (16, 24):  # mostly small corrections: under 2 bits each (entropy 1.67)
        assert len(data) * 8 < 2 * q.size


def test_a_flat_colour_the_decoder_missed_comes_back_exactly():
    want = np.full((64, 64, 3), (0, 0, 255), np.uint8)
    decoded = np.full((64, 64, 3), (3, 51, 152), np.uint8)  # what the bundled model once gave
    q = colour.measure(want, decoded)
    assert np.array_equal(colour.apply(decoded, q), want)


def test_measure_accounts_for_clipping():
    """A tile half at 250 and half at 10 decoded 20 levels too dark: one correction of the mean
    would clip the bright half, so later rounds ask for more."""
    want = np.zeros((64, 64, 3), np.uint8)
    want[:, :32], want[:, 32:] = 255, 40
    decoded = want.astype(np.int64) - 20
    decoded[:, :32] = 250
    decoded = np.clip(decoded, 0, 255).astype(np.uint8)
    one = np.round((want.mean((0, 1)) - decoded.mean((0, 1))) / colour.STEP)
    q = colour.measure(want, decoded)
    assert (q[0, 0] > one).all()
    err = lambda img: abs(img.astype(np.float64).mean() - want.mean())
    assert err(colour.apply(decoded, q)) <= 1 < 3 <= err(colour.apply(decoded, one.astype(int)[None, None]))


def test_the_map_is_applied_band_by_band_as_a_whole_and_bilinearly(monkeypatch):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 256, (100, 130, 3)).astype(np.uint8)
    q = rng.integers(-5, 6, colour.grid(100, 130, 16) + (3,))
    whole = colour.apply(y, q, 16)
    monkeypatch.setattr(colour, "BAND_BYTES", 130 * 3 * 8 * 7)  # bands of 14 rows (7 for sums)
    assert np.array_equal(colour.apply(y, q, 16), whole)
    flat = np.full((100, 130, 3), 100, np.uint8)
    add = colour.apply(flat, q, 16).astype(int) - 100  # a smooth field between tile centres
    assert add[0, 0].tolist() == (q[0, 0] * colour.STEP).tolist()  # a corner: its tile's value
    step = 10 * colour.STEP / 16 + 1  # the largest change over one pixel, with rounding
    assert np.abs(np.diff(add, axis=0)).max() <= step and np.abs(np.diff(add, axis=1)).max() <= step


@pytest.mark.parametrize("band_bytes", [430 * 3 * 8 * 5, 1 << 30])
def test_means_of_partial_tiles_are_their_own_pixels(monkeypatch, band_bytes):
    monkeypatch.setattr(colour, "BAND_BYTES", band_bytes)
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (300, 430, 3)).astype(np.uint8)
    means = colour._tile_means(img, 64)
    assert means.shape == (5, 7, 3)
    assert np.allclose(means[4, 6], img[256:, 384:].reshape(-1, 3).mean(0))
    assert np.allclose(means[1, 2], img[64:128, 128:192].reshape(-1, 3).mean(0))


def test_memory_does_not_grow_with_the_width():
    """A 64 x 40000 image: bands of BAND_BYTES, not of a fixed row count (once 0.5 GB)."""
    import tracemalloc

    y = np.full((64, 40000, 3), 100, np.uint8)
    x = np.full((64, 40000, 3), 110, np.uint8)
    tracemalloc.start()
    q = colour.measure(x, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (q == 5).all() and peak < 40e6  # the image itself is 7.7 MB; each round copies it


# -- the stream around it ------------------------------------------------------------------------
def _stream_parts(path):
    with open(path, "rb") as f:
        header = container.read_header(f)
        payload = read_image_stream(f, header)
    return header, payload


def _rewrite(path, header, payload):
    path.write_bytes(header.to_bytes() + container.record_bytes(payload, last=True))


def test_images_carry_the_map_and_can_leave_it_out(image_model, tmp_path):
    src = make_image(tmp_path / "a.png", 96, 64, seed=4)
    r = run_cli("compress", src, "-m", image_model, "-o", tmp_path / "with.vqc", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    header, payload = _stream_parts(tmp_path / "with.vqc")  # the image has flat blocks
    assert header.version == 5 and header.params.colour == colour.TILE and header.params.flat == 8
    parts = split_payload(header, payload)
    assert report["colour_bytes"] == 4 + len(parts.colour) + 4 + len(parts.flat)
    assert report["flat_blocks"] > 0
    r = run_cli("compress", src, "-m", image_model, "-o", tmp_path / "without.vqc",
                "--no-colour-correction", "--json")
    assert r.returncode == 0, r.stderr
    header, payload = _stream_parts(tmp_path / "without.vqc")
    assert header.version == 1 and header.params.colour == 0
    assert split_payload(header, payload) == (payload, None, None, None)


def test_the_help_says_which_version_no_colour_correction_writes(image_model, tmp_path):
    """Within the model's VQ stages version 1 or 2; at a detail level version 8, colour 0."""
    from conftest import random_image_model

    r = run_cli("compress", "--help")
    text = " ".join(r.stdout.decode().split())
    assert "a level within the model's VQ stages is written as format version 1 or 2" in text
    assert "a detail level above them (the bundled model's 2 to 8, the default among them) " \
           "stays version 8, with no colour map" in text
    assert "without both the stream is format version 1 or 2" not in text
    src = make_image(tmp_path / "a.png", 48, 40, seed=2)
    detail = random_image_model(tmp_path / "detail.safetensors", detail=True)
    for model, level, version in ((image_model, 1, 1), (detail, 2, 8)):
        out = tmp_path / f"{level}.vqc"
        r = run_cli("compress", src, "-m", model, "-o", out, "--quality", str(level),
                    "--no-colour-correction")
        assert r.returncode == 0, r.stderr
        header = _stream_parts(out)[0]
        assert (header.version, header.params.colour, header.params.flat) == (version, 0, 0)


def test_colour_flags_on_speech_are_a_usage_error(tmp_path):
    import soundfile as sf

    from conftest import make_speechlike

    sf.write(tmp_path / "s.wav", make_speechlike(0.5, 16000, 1), 16000)
    r = run_cli("compress", tmp_path / "s.wav", "--no-colour-correction")
    assert r.returncode == 1 and b"apply to images" in r.stderr
    assert not (tmp_path / "s.wav.vqc").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda idx, corr, fl: join_payload(idx, bytes([200]) + corr[1:], fl),
     "bad colour correction header"),
    (lambda idx, corr, fl: idx[:2], "shorter than its index stream"),
    (lambda idx, corr, fl: (len(idx) + 50).to_bytes(4, "little") + idx + corr,
     "shorter than its index stream"),
    (lambda idx, corr, fl: join_payload(idx, corr, fl)[:-len(fl) - 3],
     "shorter than its colour correction"),
])
def test_a_damaged_map_is_one_line_and_exit_2_with_nothing_written(image_model, tmp_path, damage, message):
    src = make_image(tmp_path / "a.png", 96, 64, seed=4)
    vqc = tmp_path / "a.vqc"
    assert run_cli("compress", src, "-m", image_model, "-o", vqc).returncode == 0
    header, payload = _stream_parts(vqc)
    _rewrite(vqc, header, damage(*split_payload(header, payload)[:3]))
    r = run_cli("decompress", vqc, "-m", image_model, "-o", tmp_path / "out.png")
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1, r.stderr
    assert message.encode() in r.stderr
    assert not (tmp_path / "out.png").exists()


def test_the_bundled_model_returns_every_flat_colour_within_two_levels():
    """64 flat 64x64 colours (vqcodec.eval.flat): 17.7 levels off on average with neither map,
    2.6 with the colour correction alone (17 of them more than 3 off); the flat block map, sent
    where it pays, brings the worst within 2 (0.45 on average today)."""
    from vqcodec.eval.flat import flat_errors

    (res,) = flat_errors(None, [1])
    assert res["within_3"] == 64 and res["worst_error"] <= 2.0 and res["mean_error"] <= 0.6


def test_the_colour_correction_alone_brings_flat_colours_means_within_2_5_levels():
    """Version 4 (no flat block map): {0, 128, 255}^3 decoded means are the colour, to 2.5."""
    import io

    from vqcodec import api
    from vqcodec.codec.image import compress_image
    from vqcodec.eval.flat import colours

    model = api.get_model(None, "image")
    for c in colours()[:27]:
        img = np.broadcast_to(c, (64, 64, 3)).copy()
        stream = io.BytesIO(compress_image(model, img, 3, quality=1, flat_blocks=False)[0])
        header = container.read_header(stream)
        rgb, _ = api.decompress_image_from(stream, header, None)
        assert header.version == 4
        assert np.abs(rgb.reshape(-1, 3).mean(0) - c).max() <= 2.5, (c, rgb.reshape(-1, 3).mean(0))


def test_a_forged_stream_without_its_map_fails_cleanly():
    with pytest.raises(BadStreamError, match="bad colour correction header"):
        colour.decode(b"\x01", (2, 2))


def test_the_decoder_uses_the_tile_size_the_header_names(image_model, tmp_path):
    """A version 4 stream with 32-pixel tiles (a size today's encoder does not write)."""
    from vqcodec import api
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.codec.params import ImageParams
    from vqcodec.media import read_image

    src = make_image(tmp_path / "b.png", 96, 64, seed=8)
    vqc = tmp_path / "b.vqc"
    assert run_cli("compress", src, "-m", image_model, "-o", vqc).returncode == 0
    header, payload = _stream_parts(vqc)
    model = api.get_model(str(image_model), "image")
    rgb = read_image(str(src))[0]
    decoded = decompress_indices(model, encode_indices(model, rgb), 96, 64)
    q = colour.measure(rgb, decoded, 32)
    p = header.params
    forged = container.Header("image", header.fingerprint, ImageParams(p.width, p.height, 3, 1, 32))
    _rewrite(vqc, forged, join_payload(split_payload(header, payload)[0], colour.encode(q)))
    got = api.decompress(vqc.read_bytes(), model=str(image_model))
    assert q.shape[:2] == (2, 3) and np.array_equal(got, colour.apply(decoded, q, 32))
