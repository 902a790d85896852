"""Images coded tile by tile: the same indices and pixels as the whole image, in memory that
does not grow with the image.

Tolerance: indices identical; pixels within one level. Tiles run the same float32 arithmetic
as the whole image, but OpenBLAS rounds a matrix product's rows differently depending on the
product's size, so a pixel whose value sits on a rounding boundary may move by one level, as
it may on another CPU (measured on the bundled model and the 8 held-out 768x512 photos with
24-index tiles: identical indices, at most 7 of 1.2 M values off by one).
"""

import tracemalloc

import numpy as np
import pytest

from vqcodec import threads
from vqcodec.models.modelfile import load_model
from vqcodec.runtime import tiles
from vqcodec.runtime.image import to_input, to_pixels
from vqcodec.runtime.nets import sequential


@pytest.fixture(scope="module")
def net(image_model):
    return load_model(image_model).runtime


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _assert_pixels_agree(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("h, w", [(21, 35), (75, 130), (64, 64)],
                         ids=["smaller-than-a-tile", "several-odd-tiles", "exact-tiles"])
def test_tiled_coding_agrees_with_the_whole_image(net, h, w, workers, monkeypatch):
    monkeypatch.setattr(threads, "count", lambda: workers)
    rgb = _noise(h, w)
    idx = net.encode(to_input(rgb))
    assert np.array_equal(net.encode_image(rgb, tile=4), idx)
    _assert_pixels_agree(net.decode_image(idx, h, w, tile=4), to_pixels(net.decode(idx), h, w))


def test_a_map_smaller_than_a_tile_is_split_into_row_bands_for_the_threads():
    """768x512 pixels (64 x 96 indices) is one 96-index tile; on two threads it runs as two
    bands of 32 rows, each window reaching the halo into the other."""
    top, bottom = tiles.tiles(64, 96, 96, 4, parts=2)
    assert (top.y0, top.y1, top.x0, top.x1, top.wy0, top.wy1) == (0, 32, 0, 96, 0, 36)
    assert (bottom.y0, bottom.y1, bottom.wy0, bottom.wy1) == (32, 64, 28, 64)
    assert len(tiles.tiles(3, 5, 96, 1, parts=8)) == 1  # bands at least 4 halos high
    assert [t.y1 - t.y0 for t in tiles.tiles(64, 96, 96, 5, parts=16)] == [22, 22, 20]
    big = tiles.tiles(200, 300, 96, 4, parts=2)  # already many tiles: none larger than 96
    assert len(big) == 12 and max(t.y1 - t.y0 for t in big) == 67
    for parts in ([top, bottom], big):
        seen = np.zeros((parts[-1].y1, parts[-1].x1), dtype=int)
        for t in parts:
            seen[t.y0: t.y1, t.x0: t.x1] += 1
        assert (seen == 1).all()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_bands_for_the_threads_agree_with_the_whole_image(net, workers, monkeypatch):
    """The encoder cuts the same two bands on any number of threads (the stream must not
    depend on the machine's load); the decoder cuts one band per thread."""
    cuts = []
    cut = tiles.tiles
    monkeypatch.setattr(tiles, "tiles", lambda *a: cuts.append(cut(*a)) or cuts[-1])
    rgb = _noise(8 * 16 * net.enc_halo, 40)
    h, w = rgb.shape[:2]
    idx = net.encode(to_input(rgb))
    assert np.array_equal(net.encode_image(rgb, workers=workers), idx)
    _assert_pixels_agree(net.decode_image(idx, h, w, workers=workers), to_pixels(net.decode(idx), h, w))
    assert [len(c) for c in cuts] == [2, workers]


def test_the_decoders_reach_is_how_far_one_index_moves_pixels(net):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((16, 16, net.codebooks[0].shape[1])).astype(np.float32)
    moved = z.copy()
    moved[8, 8] += 1
    diff = np.abs(sequential(net.dec, net.p, "decoder.net", moved)
                  - sequential(net.dec, net.p, "decoder.net", z)).max(-1)
    cells = np.unique(np.nonzero(diff)[0] // 8)
    assert cells.min() == 8 - net.dec_halo and cells.max() == 8 + net.dec_halo


def test_one_pixel_moves_no_index_beyond_the_encoders_halo(net):
    x = np.random.default_rng(2).standard_normal((160, 160, 3)).astype(np.float32)
    moved = x.copy()
    moved[80, 80] += 1  # the first pixel of index (10, 10)
    diff = np.abs(sequential(net.enc, net.p, "encoder.net", moved)
                  - sequential(net.enc, net.p, "encoder.net", x)).max(-1)
    rows = np.unique(np.nonzero(diff)[0])
    assert rows.min() >= 10 - net.enc_halo and rows.max() <= 10 + net.enc_halo


def test_tiles_cover_the_map_once_with_windows_inside_it():
    parts = tiles.tiles(10, 7, 4, 2)
    seen = np.zeros((10, 7), dtype=int)
    for t in parts:
        seen[t.y0: t.y1, t.x0: t.x1] += 1
        assert (t.wy0, t.wy1) == (max(0, t.y0 - 2), min(10, t.y1 + 2))
        assert (t.wx0, t.wx1) == (max(0, t.x0 - 2), min(7, t.x1 + 2))
    assert (seen == 1).all()


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_large_image_stays_under_a_bound_that_the_whole_image_exceeds(net, monkeypatch):
    monkeypatch.setattr(threads, "count", lambda: 1)  # one tile in flight
    h, w = 389, 645
    rgb = _noise(h, w)
    bound = 24 << 20  # measured: about 14 MB tiled (the pixels are 0.75 MB), 79 MB whole
    tiled = _peak_bytes(lambda: net.decode_image(net.encode_image(rgb, tile=16), h, w, tile=16))
    whole = _peak_bytes(lambda: to_pixels(net.decode(net.encode(to_input(rgb))), h, w))
    assert tiled < bound < whole
