"""The image codec through the real CLI: round trips, determinism across 'CPUs', bad input."""

import numpy as np
import pytest
from PIL import Image

from conftest import OTHER_CPU, make_image, run_cli


def test_compress_decompress_round_trip(image_model, tmp_path):
    src = make_image(tmp_path / "a.png", 100, 75, seed=7)  # not a multiple of 8
    r = run_cli("compress", src, "--model", image_model)
    assert r.returncode == 0, r.stderr
    vqc = tmp_path / "a.png.vqc"
    assert vqc.stat().st_size < 400
    r = run_cli("decompress", vqc, "--model", image_model, "-o", tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    out = Image.open(tmp_path / "out.png")
    assert out.size == (100, 75) and out.mode == "RGB"


def test_decoded_image_equals_decoding_the_encoders_own_indices(image_model, tmp_path):
    from conftest import corrected
    from vqcodec import api
    from vqcodec.codec.image import decompress_indices, encode_indices
    from vqcodec.media import read_image

    src = make_image(tmp_path / "b.png", 96, 64, seed=3)
    model = api.get_model(str(image_model), "image")
    rgb, _ = read_image(str(src))
    idx = encode_indices(model, rgb)
    decoded = decompress_indices(model, idx, 96, 64)
    want = corrected(rgb, decoded, idx)  # with the encoder's colour correction and flat blocks
    got = api.decompress(api.compress(str(src), model=str(image_model)), model=str(image_model))
    assert np.array_equal(got, want) and not np.array_equal(got, decoded)


def test_grayscale_stays_grayscale_and_alpha_is_flattened(image_model, tmp_path):
    gray = make_image(tmp_path / "g.png", 64, 48, seed=1, mode="L")
    rgba = make_image(tmp_path / "t.png", 64, 48, seed=2, mode="RGBA")
    for src in (gray, rgba):
        assert run_cli("compress", src, "--model", image_model).returncode == 0
        r = run_cli("decompress", f"{src}.vqc", "--model", image_model, "-o", tmp_path / f"{src.stem}.out.png")
        assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "g.out.png").mode == "L"
    assert Image.open(tmp_path / "t.out.png").mode == "RGB"


def test_indices_decode_identically_on_an_imitated_other_cpu(image_model, tmp_path):
    src = make_image(tmp_path / "c.png", 128, 96, seed=5)
    for env_enc, env_dec, tag in ((None, OTHER_CPU, "ab"), (OTHER_CPU, None, "ba")):
        vqc = tmp_path / f"{tag}.vqc"
        assert run_cli("compress", src, "--model", image_model, "-o", vqc, env=env_enc).returncode == 0
        a, b = tmp_path / f"{tag}1.npy", tmp_path / f"{tag}2.npy"
        assert run_cli("decompress", vqc, "--model", image_model, "--indices", a, env=env_enc).returncode == 0
        r = run_cli("decompress", vqc, "--model", image_model, "--indices", b, env=env_dec)
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.load(a), np.load(b))


def test_existing_output_is_not_overwritten_without_force(image_model, tmp_path):
    src = make_image(tmp_path / "d.png", 64, 64, seed=4)
    (tmp_path / "d.png.vqc").write_bytes(b"keep me")
    r = run_cli("compress", src, "--model", image_model)
    assert r.returncode == 4 and b"already exists" in r.stderr
    assert (tmp_path / "d.png.vqc").read_bytes() == b"keep me"
    assert run_cli("compress", src, "--model", image_model, "-f").returncode == 0


@pytest.mark.parametrize("content, message", [
    (b"", b"empty file"),
    (b"hello, I am text\n" * 10, b"neither an image nor an audio reader"),
])
def test_non_images_get_one_line_errors(image_model, tmp_path, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    r = run_cli("compress", bad, "--model", image_model)
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.count(b"\n") == 1
    assert not (tmp_path / "bad.png.vqc").exists()
    assert not list(tmp_path.glob("*.part"))


def test_truncated_image_is_rejected(image_model, tmp_path):
    src = make_image(tmp_path / "e.png", 200, 150, seed=9)
    data = src.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    r = run_cli("compress", tmp_path / "trunc.png", "--model", image_model)
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1


def test_bad_streams_are_rejected_without_output(image_model, tmp_path):
    from vqcodec.codec import container

    src = make_image(tmp_path / "f.png", 64, 64, seed=6)
    assert run_cli("compress", src, "--model", image_model).returncode == 0
    good = (tmp_path / "f.png.vqc").read_bytes()
    header = container.read_header(__import__("io").BytesIO(good))
    from vqcodec.codec.params import ImageParams

    absurd = container.Header("image", header.fingerprint, ImageParams(10**6, 10**6, 3)).to_bytes()
    cases = {"empty": b"", "truncated": good[:-5], "absurd": absurd + good[header.size:],
             "flipped": good[:-3] + bytes([good[-3] ^ 0xFF]) + good[-2:]}
    for name, data in cases.items():
        p = tmp_path / f"{name}.vqc"
        p.write_bytes(data)
        r = run_cli("decompress", p, "--model", image_model, "-o", tmp_path / f"{name}.png")
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.startswith(b"vqcodec: error:") and r.stderr.count(b"\n") == 1
        assert not (tmp_path / f"{name}.png").exists()


def test_stream_from_another_model_names_both(image_model, speech_model, tmp_path):
    src = make_image(tmp_path / "h.png", 64, 64, seed=8)
    assert run_cli("compress", src, "--model", image_model).returncode == 0
    r = run_cli("decompress", tmp_path / "h.png.vqc", "--model", speech_model, "-o", tmp_path / "h2.png")
    assert r.returncode == 3
    assert b"stream was made by model" in r.stderr and b"but model sp is" in r.stderr


def test_unwritable_output_is_a_clean_error(image_model, tmp_path):
    src = make_image(tmp_path / "i.png", 64, 64, seed=10)
    r = run_cli("compress", src, "--model", image_model, "-o", tmp_path / "missing" / "x.vqc")
    assert r.returncode == 4 and r.stderr.count(b"\n") == 1


def test_info_reads_header_without_a_model(image_model, tmp_path):
    import json

    src = make_image(tmp_path / "j.png", 80, 56, seed=11)
    assert run_cli("compress", src, "--model", image_model).returncode == 0
    r = run_cli("info", tmp_path / "j.png.vqc", "--json")
    info = json.loads(r.stdout)
    assert (info["width"], info["height"], info["modality"]) == (80, 56, "image")
    assert info["total_bytes"] == (tmp_path / "j.png.vqc").stat().st_size


@pytest.mark.slow
def test_train_through_the_cli(media, tmp_path):
    import json

    out = tmp_path / "cli.safetensors"
    cfg = json.dumps({"widths": [8, 8, 8, 8], "latent_dim": 4, "codebook_size": 16, "blocks": 1,
                      "prior": {"codebook_size": 16, "channels": 8, "layers": 2}})
    r = run_cli("train", "image", "--data", media / "img", "--out", out, "--steps", "6",
                "--prior-steps", "6", "--batch", "4", "--crop", "32", "--config", cfg,
                "--prior-examples", "8")
    assert r.returncode == 0, r.stderr
    assert out.exists() and (tmp_path / "cli.safetensors.ckpt").exists()
    assert b"prior_bits_per_index_int" in r.stderr
    from vqcodec.models.modelfile import load_model

    assert load_model(out).config.levels == 8  # a new model gets the seven detail levels
    r = run_cli("train", "image", "--data", media / "img", "--out", out, "--steps", "6",
                "--prior-steps", "8", "--batch", "4", "--crop", "32", "--config", cfg,
                "--prior-examples", "8", "--resume")
    assert r.returncode == 0, r.stderr
    log = [json.loads(line) for line in (tmp_path / "cli.safetensors.log.jsonl").read_text().splitlines()]
    assert any(rec.get("stage") == "prior" and rec.get("step") == 8 for rec in log)  # new plan ran
    assert [rec["prior_steps"] for rec in log if rec.get("stage") == "summary"][-1] == 8
    r = run_cli("train", "image", "--data", media / "img", "--out", out, "--steps", "9",
                "--prior-steps", "8", "--batch", "4", "--crop", "32", "--config", cfg,
                "--prior-examples", "8", "--resume")
    assert r.returncode == 1 and b"finished the autoencoder after 6 steps" in r.stderr


def test_image_coding_reports_rising_progress_that_ends_at_the_total(image_model, tmp_path):
    import io

    from vqcodec import api
    from vqcodec.codec import container

    src = make_image(tmp_path / "p.png", 800, 600, seed=8)  # 2 tiles, 4 prior groups
    for code in ("compress", "decompress"):
        calls = []
        if code == "compress":
            out = io.BytesIO()
            api.compress_image_to(str(src), out, str(image_model), progress=lambda *a: calls.append(a))
        else:
            stream = io.BytesIO(out.getvalue())
            api.decompress_image_from(stream, container.read_header(stream), str(image_model),
                                      progress=lambda *a: calls.append(a))
        done = [d for d, _ in calls]
        assert len(calls) > 2 and done == sorted(set(done)) and done[-1] == calls[0][1], code


def test_progress_bar_shows_only_once_coding_has_taken_a_second():
    import io

    from rich.console import Console

    from cli.progress import CodingProgress

    def shown(delay: float) -> str:
        out = io.StringIO()
        with CodingProgress(Console(file=out, force_terminal=True, width=80), "compressing x.png",
                            delay) as bar:
            for done in range(0, 101, 10):
                bar(done, 100)
        return out.getvalue()

    assert shown(delay=60.0) == ""
    assert "compressing x.png" in shown(delay=0.0)


@pytest.mark.parametrize("width, height", [(1, 65), (8, 65), (5, 9), (65, 1)])
def test_images_one_index_wide_decode_to_the_encoders_indices(image_model, tmp_path, width, height):
    """A map one index wide has wavefronts without positions (t = 2y + x odd): once a crash."""
    import io

    from vqcodec import api
    from vqcodec.codec import container
    from vqcodec.codec.image import encode_indices
    from vqcodec.media import read_image

    src = make_image(tmp_path / "n.png", width, height, seed=6)
    blob = api.compress(str(src), model=str(image_model))
    s = io.BytesIO(blob)
    idx = api.decode_stream_indices(s, container.read_header(s), str(image_model))
    model = api.get_model(str(image_model), "image")
    assert np.array_equal(idx, encode_indices(model, read_image(str(src))[0]))
    assert api.decompress(blob, model=str(image_model)).shape == (height, width, 3)


def test_lossy_outputs_keep_the_decoded_pixels_at_high_quality(image_model, tmp_path):
    """Pillow's defaults (JPEG quality 75 with 4:2:0 chroma) took this decode to 31 dB against
    its PNG; at quality 95 with 4:4:4 it is 49 dB. WebP is written lossless (its lossy mode has
    4:2:0 chroma only): the same pixels as the PNG."""
    src = make_image(tmp_path / "m.png", 96, 64, seed=5)
    vqc = tmp_path / "m.vqc"
    assert run_cli("compress", src, "--model", image_model, "-o", vqc).returncode == 0
    out = {}
    for ext in ("png", "jpg", "webp"):
        r = run_cli("decompress", vqc, "--model", image_model, "-o", tmp_path / f"out.{ext}")
        assert r.returncode == 0, r.stderr
        out[ext] = np.asarray(Image.open(tmp_path / f"out.{ext}").convert("RGB")).astype(float)
    mse = np.mean((out["jpg"] - out["png"]) ** 2)
    assert 10 * np.log10(255**2 / mse) > 40
    assert np.array_equal(out["webp"], out["png"])


def test_info_on_a_truncated_stream_counts_the_whole_file(image_model, tmp_path):
    import json

    src = make_image(tmp_path / "t.png", 96, 64, seed=6)
    vqc = tmp_path / "t.vqc"
    assert run_cli("compress", src, "--model", image_model, "-o", vqc).returncode == 0
    cut = tmp_path / "cut.vqc"
    cut.write_bytes(vqc.read_bytes()[:100])
    for args, data in (((cut,), None), (("-",), cut.read_bytes())):
        r = run_cli("info", *args, "--json", input=data)
        assert r.returncode == 2 and b"truncated stream" in r.stderr
        info = json.loads(r.stdout)
        assert info["total_bytes"] == 100 and info["payload_bytes"] == 0
        assert info["bits_per_pixel"] == round(100 * 8 / (96 * 64), 5)
    import io

    from vqcodec.codec.describe import describe

    class Pipe(io.RawIOBase):  # a stream that cannot seek or tell, as a pipe on stdin
        def __init__(self, data: bytes):
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            return self.data.readinto(b)

    info = describe(io.BufferedReader(Pipe(cut.read_bytes())))
    assert info["total_bytes"] == 100 and "truncated stream" in info["error"]
