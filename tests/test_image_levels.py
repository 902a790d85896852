"""Image quality levels: residual stages coded as any prefix, chosen by --quality or --bpp."""

import json

import numpy as np
import pytest

from conftest import compress_json, corrected, random_image_model, run_cli

LEVELS = 3


@pytest.fixture(scope="session")
def staged_model(tmp_path_factory):
    """A tiny image model with three residual stages and random weights."""
    return random_image_model(tmp_path_factory.mktemp("staged") / "staged.safetensors", stages=LEVELS)


_compress = compress_json


def test_every_level_round_trips_exactly_through_the_cli(staged_model, photo, tmp_path):
    from vqcodec import api
    from vqcodec.codec import colour
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.media import read_image

    model = api.get_model(str(staged_model), "image")
    rgb, _ = read_image(str(photo))
    sizes = []
    for q in range(1, LEVELS + 1):
        vqc = tmp_path / f"{q}.vqc"
        assert _compress(staged_model, photo, vqc, "--quality", str(q))["level"] == q
        info = json.loads(run_cli("info", vqc, "--json").stdout)
        assert info["level"] == q and info["version"] == 5 and info["colour"] == colour.TILE
        npy, png = tmp_path / f"{q}.npy", tmp_path / f"{q}.png"
        assert run_cli("decompress", vqc, "--model", staged_model, "--indices", npy).returncode == 0
        r = run_cli("decompress", vqc, "--model", staged_model, "-o", png)
        assert r.returncode == 0, r.stderr
        want = encode_indices(model, rgb, level=q)
        assert np.array_equal(np.load(npy), want[..., 0] if q == 1 else want)
        from PIL import Image

        decoded = decompress_indices(model, want, 72, 56)
        assert np.array_equal(np.asarray(Image.open(png)), corrected(rgb, decoded, want))
        sizes.append(vqc.stat().st_size)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # each level adds a stage's bits


def test_the_default_level_is_the_middle_one(staged_model, photo, tmp_path):
    assert _compress(staged_model, photo, tmp_path / "d.vqc")["level"] == (LEVELS + 1) // 2


def test_bpp_picks_the_highest_level_that_fits(staged_model, photo, tmp_path):
    bpp = {q: _compress(staged_model, photo, tmp_path / f"{q}.vqc", "--quality", str(q))["bpp"]
           for q in range(1, LEVELS + 1)}
    between = (bpp[2] + bpp[3]) / 2
    got = _compress(staged_model, photo, tmp_path / "b.vqc", "--bpp", f"{between:.5f}")
    assert got["level"] == 2 and got["bpp"] <= between
    assert _compress(staged_model, photo, tmp_path / "t.vqc", "--bpp", "100")["level"] == LEVELS
    r = run_cli("compress", photo, "--model", staged_model, "-o", tmp_path / "none.vqc",
                "--bpp", f"{bpp[1] / 2:.5f}")
    assert r.returncode == 1 and b"no level fits" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "none.vqc").exists()


def test_bpp_writes_the_very_stream_quality_writes_for_its_level(staged_model, photo, tmp_path):
    """`--bpp` encodes once at the top level and codes each level as a prefix of those codes;
    the image encoder codes greedily so that this prefix is what `--quality L` sends."""
    bpp = {q: _compress(staged_model, photo, tmp_path / f"{q}.vqc", "--quality", str(q))["bpp"]
           for q in (2, 3)}
    got = _compress(staged_model, photo, tmp_path / "b.vqc", "--bpp", f"{(bpp[2] + bpp[3]) / 2:.5f}")
    assert got["level"] == 2
    assert (tmp_path / "b.vqc").read_bytes() == (tmp_path / "2.vqc").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--quality", "4"], b"--quality must be between 1 and 3"),
    (["--quality", "0"], b"--quality must be at least 1"),
    (["--bpp", "0"], b"--bpp must be a positive number"),
    (["--bpp", "nan"], b"--bpp must be a positive number"),
    (["--bpp", "inf"], b"--bpp must be finite (the highest level is --quality 3)"),
    (["--quality", "2", "--bpp", "1"], b"not both"),
])
def test_bad_quality_or_bpp_is_a_one_line_usage_error_before_any_work(staged_model, photo,
                                                                      tmp_path, args, message):
    out = tmp_path / "x.vqc"
    r = run_cli("compress", photo, "--model", staged_model, "-o", out, *args)
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert not out.exists()


def test_a_one_stage_model_has_only_level_one(image_model, photo, tmp_path):
    r = run_cli("compress", photo, "--model", image_model, "-o", tmp_path / "x.vqc", "--quality", "2")
    assert r.returncode == 1 and b"has one level (1)" in r.stderr and b"between" not in r.stderr
    assert _compress(image_model, photo, tmp_path / "y.vqc", "--quality", "1")["level"] == 1


def test_quality_applies_to_images_only(speech_model, tmp_path):
    import soundfile as sf

    from conftest import make_speechlike

    wav = tmp_path / "s.wav"
    sf.write(wav, make_speechlike(0.5, 16000, 1), 16000)
    r = run_cli("compress", wav, "--model", speech_model, "--quality", "1")
    assert r.returncode == 1 and b"apply to images" in r.stderr


def test_a_stream_whose_level_the_model_lacks_is_refused(staged_model, photo, tmp_path):
    from vqcodec.codec import container
    from vqcodec.codec.params import ImageParams

    vqc = tmp_path / "a.vqc"
    _compress(staged_model, photo, vqc, "--quality", "3")
    with open(vqc, "rb") as f:
        header = container.read_header(f)
        rest = f.read()
    p = header.params
    forged = container.Header("image", header.fingerprint, ImageParams(p.width, p.height, 3, 5))
    (tmp_path / "b.vqc").write_bytes(forged.to_bytes() + rest)
    r = run_cli("decompress", tmp_path / "b.vqc", "--model", staged_model, "-o", tmp_path / "b.png")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert b"stream codes 5 residual stages, but its model has 3" in r.stderr
    assert not (tmp_path / "b.png").exists()


def test_the_api_takes_a_quality(staged_model):
    import vqcodec

    rgb = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    blobs = [vqcodec.compress(rgb, str(staged_model), quality=q) for q in (1, 3)]
    assert len(blobs[0]) < len(blobs[1])
    assert vqcodec.decompress(blobs[1], str(staged_model)).shape == (40, 48, 3)


def test_models_lists_the_levels():
    r = run_cli("models", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["image-default"]["levels"] == 8 and rows["image-default"]["default_level"] == 4
    assert rows["speech-default"]["levels"] == 3
    table = {line.split()[0]: line for line in run_cli("models").stdout.decode().splitlines()[1:]}
    assert rows["speech-default"]["default_level"] == 2.5  # the third stage on half the frames
    assert rows["speech-default"]["telephone_default"] == 2.25  # its telephone code set's
    assert " 1-3 (default 2.5, telephone 2.25) " in table["speech-default"]
    assert " 1-8 (default 4) " in table["image-default"]  # level 1 and seven detail levels


def test_bench_speed_times_the_first_size_at_every_level(staged_model):
    from vqcodec.tools import bench_speed

    rows = bench_speed.bench_images(str(staged_model), sizes=((48, 64), (32, 32)), repeat=1,
                                    naive=False)
    assert [(r["size"], r["level"]) for r in rows] == [("64x48", q) for q in range(1, LEVELS + 1)] \
        + [("32x32", (LEVELS + 1) // 2)]
    import vqcodec

    for r in rows[:LEVELS]:  # the real stream of that level
        real = vqcodec.compress(bench_speed._photo(48, 64), model=str(staged_model), quality=r["level"])
        assert r["bytes"] == len(real)
    assert rows[0]["bytes"] < rows[LEVELS - 1]["bytes"]


def test_bench_speed_times_the_detail_levels_too(tmp_path):
    """Above its stages a level adds the detail layer: the prior and the decoder network are
    timed on the stages' indices (`bench speed` with image-default failed at level 2)."""
    from vqcodec.tools import bench_speed

    model = random_image_model(tmp_path / "detail.safetensors", detail=True)
    rows = bench_speed.bench_images(str(model), sizes=((32, 32),), repeat=1, naive=False)
    assert [r["level"] for r in rows] == list(range(1, 9))
    assert all(r["prior_positions_per_s"] > 0 for r in rows) and rows[0]["bytes"] < rows[-1]["bytes"]


def test_without_the_colour_map_a_level_stream_is_version_2(staged_model, photo, tmp_path):
    vqc = tmp_path / "plain.vqc"
    assert _compress(staged_model, photo, vqc, "--quality", "2", "--no-colour-correction")["level"] == 2
    info = json.loads(run_cli("info", vqc, "--json").stdout)
    assert info["version"] == 2 and info["level"] == 2 and info.get("colour", 0) == 0
