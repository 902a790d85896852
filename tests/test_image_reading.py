"""Reading images: vqcodec's pixel limit is the only one (Pillow's decompression-bomb guard is
off while vqcodec reads, and back on after, for the host program), no Python warnings, pixels
that are not numbers refused, and errors that name their file."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, run_cli
from vqcodec.errors import BadInputError
from vqcodec.media import read_image


@pytest.fixture
def pillow_limit(monkeypatch):
    """Pillow's limit lowered so that a 40x30 image (1,200 pixels) is over twice it: what a
    180-megapixel photo is to the default limit (Pillow raises DecompressionBombError)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    return 500


@pytest.fixture
def small(tmp_path):
    return make_image(tmp_path / "s.png", 40, 30, seed=3)


def test_vqcodecs_limit_not_pillows_refuses_an_image_over_it(image_model, small, pillow_limit, tmp_path):
    out = tmp_path / "s.vqc"
    r = run_cli("compress", small, "-m", image_model, "-o", out, "--max-pixels", "1000")
    assert r.returncode == 2
    assert r.stderr.decode() == (f"vqcodec: error: {small}: image of 40x30 pixels exceeds the "
                                 "limit of 1000 (raise it with --max-pixels)\n")
    assert not out.exists()
    r = run_cli("compress", "-", "-m", image_model, "-o", out, "--max-pixels", "1000",
                input=small.read_bytes())
    assert r.returncode == 2 and b"exceeds the limit of 1000" in r.stderr
    assert r.stderr.count(b"\n") == 1 and not out.exists()


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_an_image_over_pillows_limit_but_within_vqcodecs_is_coded(image_model, small, pillow_limit,
                                                                   tmp_path, stdin):
    out = tmp_path / "s.vqc"
    src, data = ("-", small.read_bytes()) if stdin else (small, None)
    r = run_cli("compress", src, "-m", image_model, "-o", out, "--max-pixels", "1200", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    r = run_cli("decompress", out, "-m", image_model, "-o", tmp_path / "s.out.png")
    assert r.returncode == 0, r.stderr
    assert read_image(str(tmp_path / "s.out.png"))[0].shape == (30, 40, 3)
    assert Image.MAX_IMAGE_PIXELS == pillow_limit  # and Pillow's guard is back


def test_an_image_between_pillows_warning_and_error_sizes_prints_no_warning(image_model, small,
                                                                             monkeypatch, tmp_path):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,200 pixels: Pillow would warn
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = run_cli("compress", small, "-m", image_model, "-o", tmp_path / "s.vqc")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"" and [str(w.message) for w in caught] == []


def test_the_library_leaves_pillows_limit_as_the_host_set_it(image_model, small, monkeypatch):
    import vqcodec

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 123_456_789)
    vqcodec.compress(np.zeros((16, 24, 3), np.uint8), model=str(image_model))
    vqcodec.compress(str(small), model=str(image_model))
    assert Image.MAX_IMAGE_PIXELS == 123_456_789
    with pytest.raises(BadInputError):
        vqcodec.compress(b"not an image at all, and long enough to sniff", model=str(image_model))
    assert Image.MAX_IMAGE_PIXELS == 123_456_789  # restored after an error too


def test_readers_on_several_threads_restore_pillows_limit(small, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    errors = []

    def read() -> None:
        try:
            for _ in range(20):
                assert read_image(str(small))[0].shape == (30, 40, 3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and Image.MAX_IMAGE_PIXELS == 500


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_image_with_pixels_that_are_not_numbers_is_refused(image_model, tmp_path, bad):
    values = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    values[3, 5] = bad
    src = tmp_path / "f.tiff"
    Image.fromarray(values, "F").save(src)
    with pytest.raises(BadInputError, match="not finite numbers"):
        read_image(str(src))
    out = tmp_path / "f.vqc"
    r = run_cli("compress", src, "-m", image_model, "-o", out)
    assert r.returncode == 2
    assert r.stderr.decode() == (f"vqcodec: error: {src}: image has pixels that are not finite "
                                 "numbers (NaN or infinity)\n")
    assert not out.exists()


def test_a_truncated_image_names_its_file_with_one_input_as_with_several(image_model, tmp_path):
    data = make_image(tmp_path / "e.png", 200, 150, seed=9).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    r = run_cli("compress", cut, "-m", image_model, "-o", tmp_path / "one.vqc")
    assert r.returncode == 2
    line = r.stderr.decode()
    assert line.startswith(f"vqcodec: error: {cut}: cannot decode image (") and line.count("\n") == 1
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("compress", cut, tmp_path / "e.png", "-m", image_model, "-o", out)
    assert r.returncode == 2 and r.stderr.decode() == line  # the same line, the name once


@pytest.mark.parametrize("ext", ["gif", "webp", "png"])
def test_an_animated_image_is_refused_not_cut_to_its_first_frame(image_model, small, ext, tmp_path):
    frames = [Image.open(small).convert("RGB"), Image.open(small).convert("RGB").rotate(180)]
    src = tmp_path / f"a.{ext}"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    r = run_cli("compress", src, "-m", image_model, "-o", tmp_path / "a.vqc")
    assert r.returncode == 2
    assert r.stderr.decode() == (f"vqcodec: error: {src}: image has 2 frames (animated or "
                                 "several pages); vqcodec codes one still image: save the frame "
                                 "to code as a file of its own\n")
    assert not (tmp_path / "a.vqc").exists()
    frames[0].save(tmp_path / f"one.{ext}")  # one frame in the same format is coded
    assert run_cli("compress", tmp_path / f"one.{ext}", "-m", image_model,
                   "-o", tmp_path / "one.vqc").returncode == 0


def test_training_reads_the_first_frame_of_an_animated_image(small, tmp_path):
    frames = [Image.open(small).convert("RGB"), Image.open(small).convert("RGB").rotate(180)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    rgb, _ = read_image(str(tmp_path / "a.gif"), still=False)
    assert rgb.shape == (30, 40, 3)
