"""Flat blocks (vqcodec.codec.flat): found exactly, coded exactly, painted last, carried in
format version 5 only where an image has them, and refused cleanly when damaged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_image, run_cli
from vqcodec.codec import container, flat
from vqcodec.codec.image import join_payload, read_image_stream, split_payload
from vqcodec.codec.params import ImageParams
from vqcodec.errors import BadStreamError


def test_find_takes_blocks_whose_pixels_are_all_one_colour_including_partial_edge_blocks():
    img = np.zeros((20, 27, 3), np.uint8)  # 3 x 4 blocks, the last row and column partial
    img[:8, 8:16] = (255, 0, 7)
    img[3, 10, 2] = 8  # one channel of one pixel breaks the block at (0, 1)
    img[16:, 24:] = (9, 9, 9)  # the corner block: its 4 x 3 pixels inside the image
    img[8:16, :8] = np.arange(8, dtype=np.uint8)[:, None, None]  # a gradient: not flat
    fm = flat.find(img)
    assert fm.flags.shape == (3, 4)
    assert fm.flags.tolist() == [[True, False, True, True], [False, True, True, True],
                                 [True, True, True, True]]
    assert fm.colours[2, 3].tolist() == [9, 9, 9] and fm.colours[0, 2].tolist() == [0, 0, 0]


@pytest.mark.parametrize("shape, density", [((1, 1), 1.0), ((5, 7), 0.5), ((30, 41), 0.1),
                                            ((12, 12), 1.0), ((40, 3), 0.9)])
def test_the_map_round_trips_exactly(shape, density):
    """Flags and colours, with colours repeated along rows and columns (LEFT, ABOVE, PREVIOUS)
    and the extremes 0 and 255 (a -1 for "no colour" once read as 255)."""
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    flags = rng.random(shape) < density
    flags.flat[0] = True
    palette = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 128], [1, 2, 3]], np.uint8)
    colours = palette[rng.integers(0, 4, shape)]
    colours[rng.random(shape) < 0.2] = rng.integers(0, 256, 3)
    same = rng.random(shape) < 0.5
    fm = flat.FlatMap(flags, colours)
    got = flat.decode(flat.encode(fm, same), same)
    assert np.array_equal(got.flags, flags)
    assert np.array_equal(got.colours[flags], colours[flags])


def test_the_contexts_are_the_indices_as_the_decoder_has_them():
    idx = np.array([[3, 3, 4], [5, 5, 5]])
    want = [[False, True, False], [False, True, True]]
    assert flat.same_as_left(idx).tolist() == want
    assert flat.same_as_left(np.stack([idx, idx * 0], -1)).tolist() == want  # the first stage's


def test_a_flat_image_costs_a_few_bytes():
    fm = flat.find(np.full((512, 768, 3), (227, 18, 239), np.uint8))
    same = np.ones(fm.flags.shape, bool)
    assert fm.count == 64 * 96 and len(flat.encode(fm, same)) <= 24


def test_screen_content_costs_under_a_quarter_of_a_bit_per_block():
    """Panels of a few colours on a background, as in a screenshot: the contexts (neighbours
    flat, same index) and colour sources (left, above) make long runs cheap."""
    img = np.full((512, 768, 3), 240, np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(8):
        x0, y0 = rng.integers(0, 700), rng.integers(0, 450)
        h, w = rng.integers(20, 200), rng.integers(20, 300)
        img[y0: y0 + h, x0: x0 + w] = rng.integers(0, 256, 3)
    fm = flat.find(img)
    data = flat.encode(fm, np.zeros(fm.flags.shape, bool))
    assert fm.count > 4000 and len(data) * 8 < 0.25 * fm.flags.size  # 0.22 today


def test_paint_sets_flat_blocks_and_leaves_the_rest():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (19, 21, 3)).astype(np.uint8)
    flags = np.zeros((3, 3), bool)
    flags[2, 2] = flags[0, 1] = True
    colours = np.zeros((3, 3, 3), np.uint8)
    colours[2, 2], colours[0, 1] = (1, 2, 3), (200, 100, 0)
    out = flat.paint(img.copy(), flat.FlatMap(flags, colours))
    assert (out[16:, 16:] == (1, 2, 3)).all() and (out[:8, 8:16] == (200, 100, 0)).all()
    keep = np.ones((19, 21), bool)
    keep[16:, 16:] = keep[:8, 8:16] = False
    assert np.array_equal(out[keep], img[keep])


@pytest.mark.parametrize("data, message", [
    (b"\x80", "flat block map ends early"),
    (bytes([5]), "flat block map: 5 new colours for 4 blocks"),
    (bytes([1, 9, 9]), "colours end early"),
    (bytes([0]), "without flat blocks"),  # no words: every flag decodes as 0
])
def test_a_damaged_map_is_refused(data, message):
    with pytest.raises(BadStreamError, match=message):
        flat.decode(data, np.zeros((2, 2), bool))


def _forged(flags, symbols, new):
    """The map with `flags` whose flat blocks' colour sources are `symbols` (forged: the
    encoder never writes an impossible source), decoded."""
    import constriction

    from vqcodec.codec.entropy import FAMILY, to_bytes

    same = np.zeros(flags.shape, bool)
    f = flags.reshape(-1).astype(np.int32)
    coder = constriction.stream.queue.RangeEncoder()
    contexts = flat._flag_contexts(flags, same).reshape(-1)
    coder.encode(f, FAMILY, flat._adaptive_weights(contexts, f, 2))
    sym = np.array(symbols, np.int32)
    ctx = flat._colour_choices(flat.FlatMap(flags, np.zeros(flags.shape + (3,), np.uint8)))[0]
    coder.encode(sym, FAMILY, flat._adaptive_weights(ctx, sym, 4))
    new = np.asarray(new, np.uint8).reshape(-1, 3)
    return flat.decode(bytes([len(new)]) + new.tobytes() + to_bytes(coder.get_compressed()), same)


@pytest.mark.parametrize("symbols, new, message", [
    ([flat.NEW, flat.LEFT], [[1, 2, 3]], "from no flat block"),
    ([flat.NEW, flat.ABOVE], [[1, 2, 3]], "from no flat block"),
    ([flat.PREVIOUS, flat.NEW], [[1, 2, 3]], "from no flat block"),
    ([flat.NEW, flat.NEW], [[1, 2, 3]], "more new"),
    ([flat.NEW, flat.PREVIOUS], [[1, 2, 3], [4, 5, 6]], "fewer new"),
])
def test_forged_colour_sources_are_refused(symbols, new, message):
    one_row = np.array([[True, False, True]])  # the second flat block has no flat neighbour
    with pytest.raises(BadStreamError, match=message):
        _forged(one_row, symbols, new)


def test_the_forging_helper_makes_maps_that_decode():
    got = _forged(np.array([[True, False, True]]), [flat.NEW, flat.PREVIOUS], [[1, 2, 3]])
    assert got.colours[0, 2].tolist() == [1, 2, 3]


@pytest.mark.parametrize("values, message", [
    ((8, 8, 3, 1, 0, 8), "without a colour correction map"),
    ((8, 8, 3, 1, 64, 16), "flat blocks of 16 pixels"),
])
def test_headers_with_impossible_flat_blocks_are_malformed(values, message):
    with pytest.raises(BadStreamError, match=message):
        ImageParams.from_header(5, list(values))
    with pytest.raises(BadStreamError, match="lowest"):  # version 5 without flat blocks
        ImageParams.from_header(5, [8, 8, 3, 1, 64, 0])


def _parts(path):
    with open(path, "rb") as f:
        header = container.read_header(f)
        return header, read_image_stream(f, header)


def test_flat_regions_come_back_exactly_through_the_cli(image_model, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (64, 96, 3)).astype(np.uint8)  # noise: no flat blocks
    img[8:40, 16:48] = (227, 18, 239)  # 4 x 4 flat blocks
    img[40:64, 64:96] = (255, 255, 255)  # 3 x 4 more, at the corner
    img[50, 70] = (254, 255, 255)  # one pixel breaks one of them
    Image.fromarray(img).save(tmp_path / "a.png")
    r = run_cli("compress", tmp_path / "a.png", "-m", image_model, "-o", tmp_path / "a.vqc",
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["flat_blocks"] == 16 + 11
    header, payload = _parts(tmp_path / "a.vqc")
    assert header.version == 5 and header.params.flat == flat.BLOCK
    info = json.loads(run_cli("info", tmp_path / "a.vqc", "--json").stdout)
    assert info["version"] == 5 and info["flat"] == flat.BLOCK and info["colour"] == 64
    r = run_cli("decompress", tmp_path / "a.vqc", "-m", image_model, "-o", tmp_path / "b.png")
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "b.png").convert("RGB"))
    assert (out[8:40, 16:48] == (227, 18, 239)).all()
    assert (out[40:48, 64:96] == 255).all() and (out[56:64, 64:96] == 255).all()
    assert (out[48:56, 72:96] == 255).all()


def test_an_image_without_flat_blocks_is_version_4_byte_for_byte(image_model, tmp_path):
    from PIL import Image

    from vqcodec import api
    from vqcodec.codec.image import compress_image
    from vqcodec.media import read_image

    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3)).astype(np.uint8)).save(tmp_path / "n.png")
    r = run_cli("compress", tmp_path / "n.png", "-m", image_model, "-o", tmp_path / "n.vqc")
    assert r.returncode == 0, r.stderr
    header, payload = _parts(tmp_path / "n.vqc")
    assert header.version == 4 and header.params.flat == 0
    assert split_payload(header, payload).flat is None
    rgb, channels = read_image(str(tmp_path / "n.png"))
    model = api.get_model(str(image_model), "image")
    old = compress_image(model, rgb, channels, flat_blocks=False)[0]
    assert (tmp_path / "n.vqc").read_bytes() == old


def test_a_damaged_flat_map_is_one_line_and_exit_2_with_nothing_written(image_model, tmp_path):
    src = make_image(tmp_path / "a.png", 96, 64, seed=4)
    vqc = tmp_path / "a.vqc"
    assert run_cli("compress", src, "-m", image_model, "-o", vqc).returncode == 0
    header, payload = _parts(vqc)
    parts = split_payload(header, payload)
    damaged = join_payload(parts.indices, parts.colour, bytes([200]) + parts.flat[1:])
    vqc.write_bytes(header.to_bytes() + container.record_bytes(damaged, last=True))
    r = run_cli("decompress", vqc, "-m", image_model, "-o", tmp_path / "out.png")
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1, r.stderr
    assert b"flat block map" in r.stderr
    assert not (tmp_path / "out.png").exists()


def test_mutated_maps_decode_or_fail_cleanly():
    """Bit flips, cuts and byte runs in a valid map (the record checksum is not in the way
    here): each decodes to some map of the grid or raises BadStreamError, nothing else."""
    import random

    rng = np.random.default_rng(7)
    flags = rng.random((9, 13)) < 0.6
    colours = np.array([[10, 20, 30], [255, 255, 255]], np.uint8)[rng.integers(0, 2, (9, 13))]
    same = rng.random((9, 13)) < 0.5
    data = flat.encode(flat.FlatMap(flags, colours), same)
    r = random.Random(7)
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(400):
        b = bytearray(data)
        kind = r.randrange(3)
        if kind == 0:
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
        elif kind == 1:
            b = b[: r.randrange(len(b))]
        else:
            i = r.randrange(len(b))
            b[i: i + r.randrange(1, 4)] = bytes([r.randrange(256)]) * 3
        try:
            got = flat.decode(bytes(b), same)
            assert got.flags.shape == (9, 13) and got.colours.shape == (9, 13, 3)
            outcomes["decoded"] += 1
        except BadStreamError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100


def test_the_map_is_sent_where_it_pays():
    """A decoder that already returns the flat blocks right gains nothing from painting them:
    no map. One that draws a texture into them (as the bundled model did into (227, 18, 239),
    15 levels off per pixel) gains far more than flat.LAMBDA per bit: the map."""
    from vqcodec.codec.image import correction_maps

    rgb = np.full((64, 96, 3), (227, 18, 239), np.uint8)
    rgb[:, 48:] = np.random.default_rng(0).integers(0, 256, (64, 48, 3))
    idx = np.zeros((8, 12), np.int64)
    fm = flat.find(rgb)
    assert fm.count == 48
    assert correction_maps(rgb, rgb.copy(), fm, idx)[1] is None
    textured = rgb.copy()
    checker = np.where(np.indices((64, 48)).sum(0) % 2, 15, -15)[..., None]
    textured[:, :48] = np.clip(rgb[:, :48] + checker, 0, 255)
    colour_map, flat_map = correction_maps(rgb, textured, fm, idx)
    got = flat.decode(flat_map, flat.same_as_left(idx))
    assert np.array_equal(got.flags, fm.flags)


@pytest.mark.parametrize("d, sent", [(1, False), (2, False), (3, True), (4, True)])
def test_the_map_pays_at_850_of_squared_error_per_bit(d, sent):
    """A flat 64x64 square decoded with a +-d checkerboard: painting removes 12,288 d^2 of
    squared error for a map of 13 bytes and the 5 bytes around it (104 bits): 473 per bit at
    d = 2, not sent; 1,063 at d = 3, sent."""
    from vqcodec.codec.image import correction_maps

    rgb = np.full((64, 64, 3), (100, 150, 200), np.uint8)
    texture = np.where(np.indices((64, 64)).sum(0) % 2, d, -d)[..., None]
    idx = np.zeros((8, 8), np.int64)
    fm = flat.find(rgb)
    assert len(flat.encode(fm, flat.same_as_left(idx))) == 8
    assert (correction_maps(rgb, (rgb + texture).astype(np.uint8), fm, idx)[1] is not None) == sent


def test_the_colour_map_corrects_the_pixels_that_are_not_painted():
    """A tile of 56 flat blocks and 8 textured ones, all decoded 10 levels too bright: the
    painting fixes the flat ones, so the correction must move the others by the full 10 (one
    step of the whole tile's mean would leave them 8 off)."""
    from vqcodec.codec import colour

    rgb = np.full((64, 64, 3), 100, np.uint8)
    rgb[:8] = np.random.default_rng(0).integers(50, 150, (8, 64, 3))
    decoded = (rgb + 10).astype(np.uint8)
    fm = flat.find(rgb)
    share = flat.painted_share(fm, 64, 64, 64)
    assert fm.count == 56 and share.tolist() == [[56 / 64]]
    q = colour.measure(rgb, decoded, 64, lambda z: flat.paint(z, fm), share)
    out = flat.paint(colour.apply(decoded, q, 64), fm)
    assert q.ravel().tolist() == [-5, -5, -5] and np.array_equal(out, rgb)


def test_painted_share_counts_edge_blocks_and_tiles_by_their_pixels():
    fm = flat.FlatMap(np.ones((3, 3), bool), np.zeros((3, 3, 3), np.uint8))
    assert flat.painted_share(fm, 20, 19, 16).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    fm.flags[2, 2] = False  # the 4 x 3 corner block
    share = flat.painted_share(fm, 20, 19, 16)
    assert share[1, 1] == 1 - 12 / (4 * 3) and share[0, 0] == 1.0


def test_grey_images_of_any_size_keep_their_flat_regions_exactly(image_model, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, (70, 131)).astype(np.uint8)
    img[8:48, 16:64] = 37
    img[64:, 120:] = 250  # the partial corner block: 6 x 3 pixels
    Image.fromarray(img, "L").save(tmp_path / "g.png")
    r = run_cli("compress", tmp_path / "g.png", "-m", image_model, "-o", tmp_path / "g.vqc")
    assert r.returncode == 0, r.stderr
    assert _parts(tmp_path / "g.vqc")[0].version == 5
    r = run_cli("decompress", tmp_path / "g.vqc", "-m", image_model, "-o", tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    out = Image.open(tmp_path / "out.png")
    assert out.mode == "L" and out.size == (131, 70)
    out = np.asarray(out)
    assert (out[8:48, 16:64] == 37).all() and (out[64:, 120:] == 250).all()


def test_a_spot_in_a_flat_image_sends_the_map_whatever_it_costs():
    """One pixel 30 levels off (the network's border drew one into a white corner) is 2,700 of
    squared error, far under flat.LAMBDA times the map's bits: where flat blocks are most of
    the image the map goes anyway, since a pixel more than flat.TOLERANCE off is a visible
    fault of a flat colour; where they are not (a photo's few clipped blocks), LAMBDA decides."""
    from vqcodec.codec.image import correction_maps

    rgb = np.full((64, 64, 3), 255, np.uint8)
    idx = np.zeros((8, 8), np.int64)
    spotted = rgb.copy()
    spotted[0, 0] = 225
    fm = flat.find(rgb)
    assert flat.worst_error(spotted, fm) == 30 and flat.must_paint(spotted, fm)
    assert correction_maps(rgb, spotted, fm, idx)[1] is not None
    within = rgb.copy()
    within[0, 0] = 255 - flat.TOLERANCE
    assert not flat.must_paint(within, fm) and correction_maps(rgb, within, fm, idx)[1] is None
    mostly_texture = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    mostly_texture[:24, :40] = 255  # 15 flat blocks of 64: under flat.MOST
    spotted = mostly_texture.copy()
    spotted[0, 0] = 225
    fm = flat.find(mostly_texture)
    assert fm.count == 15 and not flat.must_paint(spotted, fm)
    assert correction_maps(mostly_texture, spotted, fm, idx)[1] is None


@pytest.mark.parametrize("size", [(64, 64), (100, 150), (33, 47)])
@pytest.mark.parametrize("rgb", [(255, 255, 255), (0, 0, 0), (0, 0, 255)])
def test_flat_images_come_back_within_the_tolerance_at_every_pixel_and_level(rgb, size):
    """The bundled model, every level: white and black had kept a corner 20-30 levels off."""
    import vqcodec
    from vqcodec import api

    img = np.empty(size + (3,), np.uint8)
    img[:] = rgb
    worst = []
    for level in range(1, api.get_model(None, "image").config.levels + 1):
        out = vqcodec.decompress(vqcodec.compress(img, quality=level))
        worst.append(int(np.abs(out.astype(int) - img).max()))
    assert max(worst) <= flat.TOLERANCE, worst
