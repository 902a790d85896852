"""Where outputs go: devices, pipes and links are written, never replaced; a full disk is an
output problem; several inputs never share an output; `info` on damaged streams; limits on
streamed input; images of more than 8 bits; a WAV on standard output that turns out to be a file;
--conceal on a stream that breaks off."""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, make_image, make_speechlike, run_cli


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sp") / "a.wav"
    sf.write(path, make_speechlike(1.5, 16000, seed=21), 16000)
    return path


@pytest.fixture(scope="module")
def stream(speech_file, speech_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vqc") / "a.vqc"
    r = run_cli("compress", speech_file, "-m", speech_model, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def _read_fifo(path: Path, into: list) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as f:
            into.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def test_a_named_pipe_is_written_in_place_not_replaced(stream, speech_model, tmp_path):
    want = run_cli("decompress", stream, "-m", speech_model, "-c").stdout
    fifo = tmp_path / "out.wav"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    r = run_cli("decompress", stream, "-m", speech_model, "-o", fifo)  # no -f: nothing is replaced
    reader.join(60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    # the streaming WAV a pipe on standard output gets: sizes unknown, the same samples
    assert got[0][:44] == want[:4] + b"\xff" * 4 + want[8:40] + b"\xff" * 4
    assert got[0][44:] == want[44:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_flac_to_a_pipe_is_refused_before_any_work(stream, speech_model, tmp_path):
    fifo = tmp_path / "out.flac"
    os.mkfifo(fifo)
    r = run_cli("decompress", stream, "-m", speech_model, "-o", fifo)
    assert r.returncode == 4
    assert r.stderr.decode().strip() == (f"vqcodec: error: cannot write {fifo}: FLAC needs a file "
                                         "it can seek in (write .wav or --raw to a pipe or device)")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [("compress", "SPEECH"), ("decompress", "STREAM"),
                                  ("decompress", "STREAM", "--raw")])
def test_a_full_device_is_an_output_error_in_one_line(args, speech_file, stream, speech_model):
    args = [{"SPEECH": speech_file, "STREAM": stream}.get(a, a) for a in args]
    r = run_cli(*args, "-m", speech_model, "-o", "/dev/full")
    assert r.returncode == 4
    assert r.stderr == b"vqcodec: error: cannot write /dev/full: No space left on device\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_link_stays_a_link_and_its_target_gets_the_output(speech_file, speech_model, tmp_path):
    target, link = tmp_path / "target.vqc", tmp_path / "link.vqc"
    target.write_bytes(b"old")
    link.symlink_to(target)
    r = run_cli("compress", speech_file, "-m", speech_model, "-o", link, "-f")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    want = run_cli("compress", speech_file, "-m", speech_model, "-c").stdout
    assert target.read_bytes() == want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.vqc", "target.vqc"]


def test_a_link_to_an_existing_file_needs_force(speech_file, speech_model, tmp_path):
    target, link = tmp_path / "target.vqc", tmp_path / "link.vqc"
    target.write_bytes(b"old")
    link.symlink_to(target)
    r = run_cli("compress", speech_file, "-m", speech_model, "-o", link)
    assert r.returncode == 4 and b"already exists" in r.stderr
    assert target.read_bytes() == b"old"


def test_inputs_that_would_share_an_output_are_refused_before_any_work(speech_file, stream,
                                                                        speech_model, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.wav").write_bytes(speech_file.read_bytes())
        (tmp_path / d / "x.vqc").write_bytes(stream.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    a, b = tmp_path / "a", tmp_path / "b"
    r = run_cli("compress", a / "x.wav", b / "x.wav", "-m", speech_model, "-o", out, "-f")
    assert r.returncode == 1
    assert r.stderr.decode() == (f"vqcodec: error: {a / 'x.wav'} and {b / 'x.wav'} would both be "
                                 f"written to {out / 'x.wav.vqc'}\n")
    r = run_cli("decompress", a / "x.vqc", b / "x.vqc", "-m", speech_model, "-o", out, "-f")
    assert r.returncode == 1 and f"would both be written to {out / 'x.wav'}" in r.stderr.decode()
    assert list(out.iterdir()) == []
    r = run_cli("compress", a / "x.wav", b / "x.wav", "-m", speech_model, "-f")  # beside each: fine
    assert r.returncode == 0 and (a / "x.wav.vqc").exists() and (b / "x.wav.vqc").exists()


def test_info_on_a_damaged_stream_says_so_and_exits_2(stream, tmp_path):
    blob = bytearray(stream.read_bytes())
    blob[30] ^= 0xFF  # inside the first record's payload
    bad = tmp_path / "bad.vqc"
    bad.write_bytes(bytes(blob))
    r = run_cli("info", bad)
    assert r.returncode == 2
    assert r.stderr == b"vqcodec: error: corrupt stream: 1 chunk(s) fail their checksum\n"
    assert b"damaged_records: 1" in r.stdout
    r = run_cli("info", stream, tmp_path / "missing.vqc", bad, "--json")
    assert r.returncode == 2
    described = __import__("json").loads(r.stdout)
    assert [d["file"] for d in described] == [str(stream), str(bad)]
    assert "error" not in described[0] and described[1]["damaged_records"] == 1
    assert r.stderr.decode().splitlines() == [
        f"vqcodec: error: {tmp_path / 'missing.vqc'}: no such file",
        f"vqcodec: error: {bad}: corrupt stream: 1 chunk(s) fail their checksum"]


def test_raw_output_takes_any_name(stream, speech_model, tmp_path):
    r = run_cli("decompress", stream, "-m", speech_model, "--raw", "-o", tmp_path / "talk.raw")
    assert r.returncode == 0, r.stderr
    want = (tmp_path / "talk.raw").read_bytes()
    assert len(want) == 2 * 24000
    for name in ("talk.s16", "talk_pcm"):
        r = run_cli("decompress", stream, "-m", speech_model, "--raw", "-o", tmp_path / name)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name).read_bytes() == want


@pytest.mark.parametrize("extra", [(), ("--raw", "--rate", "16000")])
def test_max_seconds_holds_for_audio_on_standard_input(extra, speech_model, tmp_path):
    pcm = (make_speechlike(3.0, 16000, seed=3) * 32767).astype("<i2")
    buf = io.BytesIO()
    sf.write(buf, pcm, 16000, format="WAV", subtype="PCM_16")
    data = pcm.tobytes() if extra else buf.getvalue()
    r = run_cli("compress", "-", "-m", speech_model, "--max-seconds", "2", "-o", tmp_path / "x.vqc",
                *extra, input=data)
    assert r.returncode == 2
    assert r.stderr == b"vqcodec: error: audio is longer than the limit of 2 s (raise it with --max-seconds)\n"
    assert list(tmp_path.iterdir()) == []
    r = run_cli("compress", "-", "-m", speech_model, "--max-seconds", "4", "-o", tmp_path / "x.vqc",
                *extra, input=data)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,message", [
    (("--max-seconds", "0"), "--max-seconds must be positive"),
    (("--max-seconds", "-1"), "--max-seconds must be positive"),
    (("--max-pixels", "0"), "--max-pixels must be at least 1"),
    (("--jobs", "0"), "--jobs must be at least 1"),
])
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_limits_that_allow_nothing_are_usage_errors(command, args, message, speech_file, stream):
    r = run_cli(command, speech_file if command == "compress" else stream, *args, "-c")
    assert r.returncode == 1 and r.stderr.decode() == f"vqcodec: error: {message}\n"


def test_a_16_bit_grey_image_keeps_its_brightness(tmp_path):
    from PIL import Image

    from vqcodec.media import read_image

    dark = (np.arange(48 * 64).reshape(48, 64) % 8001).astype(np.uint16)  # 0..31 in 8-bit terms
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    rgb, channels = read_image(str(tmp_path / "dark16.png"))
    assert channels == 1
    assert np.array_equal(rgb[..., 0], np.rint(dark / 257).astype(np.uint8))
    bright = np.full((8, 8), 65535, np.uint16)
    Image.fromarray(bright).save(tmp_path / "white16.png")
    assert (read_image(str(tmp_path / "white16.png"))[0] == 255).all()


def test_a_photo_with_an_exif_orientation_is_read_upright(tmp_path):
    from PIL import Image

    from vqcodec.media import read_image

    sideways = np.zeros((20, 40, 3), np.uint8)
    sideways[:, :10] = 255  # white on the left as stored
    img = Image.fromarray(sideways)
    exif = img.getexif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to view
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    rgb, _ = read_image(str(tmp_path / "rot.jpg"))
    assert rgb.shape == (40, 20, 3)
    assert rgb[:10].mean() > 200 and rgb[15:].mean() < 50  # the white band is now on top


def test_a_wav_on_standard_output_that_is_a_file_states_its_length(stream, speech_model, tmp_path):
    out = tmp_path / "y.wav"
    with open(out, "wb") as f:
        r = subprocess.run([sys.executable, "-m", "cli.main", "decompress", str(stream), "-m",
                            str(speech_model), "-c"], stdout=f, stderr=subprocess.PIPE, cwd=ROOT,
                           timeout=120)
    assert r.returncode == 0, r.stderr
    blob = out.read_bytes()
    riff, data = struct.unpack("<I", blob[4:8])[0], struct.unpack("<I", blob[40:44])[0]
    assert (riff, data) == (len(blob) - 8, len(blob) - 44)
    wave, rate = sf.read(out)
    assert rate == 16000 and len(wave) == 24000


@pytest.mark.parametrize("cut", ["inside a record", "between records"])
def test_conceal_decodes_a_stream_that_breaks_off_up_to_the_break(cut, speech_file, speech_model,
                                                                 tmp_path):
    from vqcodec.codec import container

    full = tmp_path / "full.vqc"  # 1.5 s: a whole 1 s record, then the last (0.5 s)
    assert run_cli("compress", speech_file, "-m", speech_model, "-o", full).returncode == 0
    blob = full.read_bytes()
    f = io.BytesIO(blob)
    container.read_header(f)
    first = container.read_record(f)
    assert not first.last
    end_of_first = f.tell()
    broken = tmp_path / "broken.vqc"
    broken.write_bytes(blob[: end_of_first + (5 if cut == "inside a record" else 0)])
    r = run_cli("decompress", broken, "-m", speech_model, "-o", tmp_path / "b.wav")
    assert r.returncode == 2 and b"truncated stream" in r.stderr
    assert not (tmp_path / "b.wav").exists()
    r = run_cli("decompress", broken, "-m", speech_model, "-o", tmp_path / "b.wav", "--conceal")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"vqcodec: warning: the stream breaks off; decoded the 1.00 s before the break\n"
    got, rate = sf.read(tmp_path / "b.wav")
    assert rate == 16000 and len(got) == 16000
    assert run_cli("decompress", full, "-m", speech_model, "-o", tmp_path / "f.wav").returncode == 0
    whole, _ = sf.read(tmp_path / "f.wav")
    assert np.abs(got[:12000] - whole[:12000]).max() < 2e-3  # the same audio up to the break
    assert np.sqrt(np.mean(got[:12000] ** 2)) > 0.01  # not silence
    header_only = tmp_path / "header.vqc"
    header_only.write_bytes(blob[:end_of_first - len(first.payload) - 4])
    r = run_cli("decompress", header_only, "-m", speech_model, "-o", tmp_path / "h.wav", "--conceal")
    assert r.returncode == 2 and not (tmp_path / "h.wav").exists()  # nothing intact: an error


@pytest.mark.parametrize("args,message", [
    (("compress", "SPEECH", "--channels", "2"), "--channels describes --raw input; a file with a "
                                                "header states its own channels"),
    (("compress", "PHOTO", "--channels", "2"), "--channels applies to speech; the input is an image"),
    (("compress", "PHOTO", "--stream"), "--stream applies to speech; the input is an image"),
    (("decompress", "STREAM", "--channels", "0"), "--channels 0 is out of range (1..64)"),
    (("decompress", "STREAM", "--rate", "0"), "--rate 0 is not a plausible sample rate (1000..768000)"),
    (("decompress", "IMAGE_STREAM", "--conceal"), "--raw, --rate, --channels, --conceal and "
                                                  "--(no-)postfilter apply to speech; the stream is an image"),
    (("decompress", "STREAM", "-o", "OUT"), "give -c/--stdout or -o, not both"),
    (("compress", "SPEECH", "-o", "OUT"), "give -c/--stdout or -o, not both"),
])
def test_options_that_do_not_apply_are_refused_not_ignored(args, message, speech_file, stream,
                                                           speech_model, image_model, tmp_path):
    photo = make_image(tmp_path / "p.png", 32, 24, seed=2)
    image_stream = tmp_path / "p.vqc"
    assert run_cli("compress", photo, "-m", image_model, "-o", image_stream).returncode == 0
    files = {"SPEECH": speech_file, "PHOTO": photo, "STREAM": stream, "IMAGE_STREAM": image_stream,
             "OUT": tmp_path / "out.wav"}
    model = image_model if any(a in ("PHOTO", "IMAGE_STREAM") for a in args) else speech_model
    r = run_cli(*[files.get(a, a) for a in args], "-m", model, "-c")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == f"vqcodec: error: {message}\n"
    assert not (tmp_path / "out.wav").exists()


def _decompress_to_stdout_file(stream, speech_model, path: Path, mode: str, *extra) -> subprocess.CompletedProcess:
    with open(path, mode) as f:
        return subprocess.run([sys.executable, "-m", "cli.main", "decompress", str(stream), "-m",
                               str(speech_model), *extra], stdout=f, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=120)


def test_a_wav_appended_to_a_file_is_left_as_a_stream(stream, speech_model, tmp_path):
    out = tmp_path / "log.bin"
    out.write_bytes(b"BEFORE")
    r = _decompress_to_stdout_file(stream, speech_model, out, "ab", "-c")
    assert r.returncode == 0, r.stderr
    blob = out.read_bytes()
    assert blob[:6] == b"BEFORE" and len(blob) == 6 + 44 + 2 * 24000
    assert blob[10:14] == b"\xff" * 4  # `>>` writes at the end: the header is not patched


def test_o_dev_stdout_writes_through_the_descriptor_without_truncating(stream, speech_model, tmp_path):
    out = tmp_path / "all.raw"
    out.write_bytes(b"PREVIOUS")
    r = _decompress_to_stdout_file(stream, speech_model, out, "ab", "--raw", "-o", "/dev/stdout")
    assert r.returncode == 0, r.stderr
    blob = out.read_bytes()
    assert blob[:8] == b"PREVIOUS" and len(blob) == 8 + 2 * 24000
    assert out.is_file() and not out.is_symlink()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_standard_output_is_an_output_error(stream, speech_model):
    with open("/dev/full", "wb") as f:
        r = subprocess.run([sys.executable, "-m", "cli.main", "decompress", str(stream), "-m",
                            str(speech_model), "-c"], stdout=f, stderr=subprocess.PIPE, cwd=ROOT,
                           timeout=120)
    assert r.returncode == 4
    assert r.stderr == b"vqcodec: error: cannot write standard output: No space left on device\n"


def test_an_image_format_that_seeks_is_refused_for_a_pipe(image_model, tmp_path):
    photo = make_image(tmp_path / "p.png", 32, 24, seed=2)
    vqc = tmp_path / "p.vqc"
    assert run_cli("compress", photo, "-m", image_model, "-o", vqc).returncode == 0
    fifo = tmp_path / "p.tiff"
    os.mkfifo(fifo)
    r = run_cli("decompress", vqc, "-m", image_model, "-o", fifo)
    assert r.returncode == 4
    assert r.stderr.decode() == (f"vqcodec: error: cannot write {fifo}: TIFF needs a file it can "
                                 "seek in (write .png or .jpg to a pipe or device)\n")


@pytest.mark.parametrize("values,white", [(np.linspace(0, 1, 64), 255), (np.linspace(0, 1.5, 64), 255),
                                          (np.linspace(0, 200, 64), 200)])
def test_float_grey_images_are_read_by_their_range(values, white, tmp_path):
    from PIL import Image

    from vqcodec.media import read_image

    Image.fromarray(values.reshape(8, 8).astype(np.float32), "F").save(tmp_path / "f.tiff")
    rgb, channels = read_image(str(tmp_path / "f.tiff"))
    assert channels == 1 and rgb.max() == white


def test_json_of_a_stream_on_stdin_counts_its_bytes(stream, speech_model, tmp_path):
    r = run_cli("decompress", "-", "-m", speech_model, "-o", tmp_path / "s.wav", "--json",
                input=stream.read_bytes())
    assert r.returncode == 0, r.stderr
    got = __import__("json").loads(r.stdout)
    assert got["bytes"] == stream.stat().st_size
    assert got["bit_per_second"] == round(stream.stat().st_size * 8 / 1.5, 1)


def test_an_error_among_several_inputs_names_the_file_once(speech_file, speech_model, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello")
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("compress", text, speech_file, "-m", speech_model, "-o", out)
    assert r.returncode == 2
    assert r.stderr.decode() == f"vqcodec: error: {text}: neither an image nor an audio reader recognised it\n"
    assert sorted(p.name for p in out.iterdir()) == ["a.wav.vqc"]


def _never(*a, **k):
    raise AssertionError("decoding started before the checks")


@pytest.mark.parametrize("source", ["header", "--rate"])
def test_ogg_above_libvorbis_rates_is_refused_before_decoding(source, speech_model, tmp_path, monkeypatch):
    from vqcodec import api

    if source == "header":  # an input that was 384 kHz, decoded at its own rate
        sf.write(tmp_path / "hi.wav", make_speechlike(0.1, 384000, seed=4), 384000)
        assert run_cli("compress", tmp_path / "hi.wav", "-m", speech_model).returncode == 0
        src, extra = tmp_path / "hi.wav.vqc", ()
    else:
        sf.write(tmp_path / "lo.wav", make_speechlike(0.1, 16000, seed=4), 16000)
        assert run_cli("compress", tmp_path / "lo.wav", "-m", speech_model).returncode == 0
        src, extra = tmp_path / "lo.wav.vqc", ("--rate", "384000")
    before = sorted(tmp_path.iterdir())
    monkeypatch.setattr(api, "decode_audio_blocks", _never)  # libvorbis would crash the process
    for args in ((src,), ("-",)):  # a file's header is read first; stdin's once the stream starts
        r = run_cli("decompress", *args, "-m", speech_model, "-o", tmp_path / "s.ogg", *extra,
                    input=src.read_bytes())
        assert r.returncode == 4
        assert r.stderr.decode() == (f"vqcodec: error: cannot write {tmp_path / 's.ogg'}: Ogg Vorbis "
                                     "takes sample rates up to 200000 Hz, not 384000 (write .wav or "
                                     ".flac, or give a lower --rate)\n")
        assert sorted(tmp_path.iterdir()) == before  # no output, no .part


def test_ogg_at_the_highest_rate_libvorbis_takes_is_written(stream, speech_model, tmp_path):
    r = run_cli("decompress", stream, "-m", speech_model, "-o", tmp_path / "s.ogg", "--rate", "200000")
    assert r.returncode == 0, r.stderr
    assert sf.info(str(tmp_path / "s.ogg")).samplerate == 200000


@pytest.mark.parametrize("name", ["out.mp3", "out.opus", "out.aiff", "out"])
def test_a_speech_stream_to_a_name_no_audio_format_has_says_unknown_audio_format(
        name, stream, speech_model, tmp_path, monkeypatch):
    from vqcodec import api

    monkeypatch.setattr(api, "decode_audio_blocks", _never)
    for src in (stream, "-"):
        r = run_cli("decompress", src, "-m", speech_model, "-o", tmp_path / name,
                    input=stream.read_bytes())
        assert r.returncode == 1
        assert r.stderr.decode() == (f"vqcodec: error: {tmp_path / name}: unknown audio format "
                                     "(use .wav, .flac, .ogg or --raw)\n")
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_an_output_with_a_trailing_slash_names_a_folder_that_must_exist(command, speech_file, stream,
                                                                        speech_model, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = speech_file if command == "compress" else stream
    r = run_cli(command, src, "-m", speech_model, "-o", "missingdir/")
    assert r.returncode == 4
    assert r.stderr == b"vqcodec: error: cannot write missingdir/: no such folder missingdir\n"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "dir").mkdir()  # an existing folder gets the file inside it, as before
    assert run_cli(command, src, "-m", speech_model, "-o", "dir/").returncode == 0
    assert len(list((tmp_path / "dir").iterdir())) == 1


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_the_input_file_is_never_its_own_output(command, link, speech_file, stream, speech_model,
                                                tmp_path):
    src = tmp_path / "x.wav"  # decompress: a stream that happens to be named .wav
    src.write_bytes((speech_file if command == "compress" else stream).read_bytes())
    out = {"same": src, "symlink": tmp_path / "l.wav", "hardlink": tmp_path / "h.wav"}[link]
    if link == "symlink":
        out.symlink_to(src)
    elif link == "hardlink":
        os.link(src, out)
    before = src.read_bytes()
    r = run_cli(command, src, "-m", speech_model, "-o", out, "-f")
    assert r.returncode == 1
    assert r.stderr.decode() == f"vqcodec: error: {out} is the input file; name another output\n"
    assert src.read_bytes() == before


def test_an_image_is_never_its_own_output(image_model, tmp_path):
    src = make_image(tmp_path / "p.png", 32, 24, seed=3)
    before = src.read_bytes()
    r = run_cli("compress", src, "-m", image_model, "-o", src, "-f")
    assert r.returncode == 1 and b"is the input file" in r.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("name", ["out.wav", "out.flac", "out.ogg"])
def test_raw_output_under_another_audio_format_s_name_is_refused(name, stream, speech_model, tmp_path,
                                                                 monkeypatch):
    from vqcodec import api

    monkeypatch.setattr(api, "decode_audio_blocks", _never)
    r = run_cli("decompress", stream, "-m", speech_model, "--raw", "-o", tmp_path / name)
    assert r.returncode == 1
    fmt = {"out.wav": "WAV", "out.flac": "FLAC", "out.ogg": "OGG"}[name]
    assert r.stderr.decode() == (f"vqcodec: error: {tmp_path / name}: --raw writes headerless PCM, "
                                 f"not {fmt} (name it .raw or .pcm, or leave out --raw)\n")
    assert list(tmp_path.iterdir()) == []


def test_raw_output_to_pcm_names_and_stdout_is_fine(stream, speech_model, tmp_path):
    r = run_cli("decompress", stream, "-m", speech_model, "--raw", "-o", tmp_path / "talk.pcm")
    assert r.returncode == 0, r.stderr
    out = run_cli("decompress", stream, "-m", speech_model, "--raw", "-o", "-")
    # the same length: stdout is live, decoded chunk by chunk, so samples may differ by rounding
    assert out.returncode == 0 and len(out.stdout) == len((tmp_path / "talk.pcm").read_bytes()) == 2 * 24000


@pytest.mark.parametrize("args", [("compress", "SPEECH", "-o", "-"), ("compress", "-"),
                                  ("decompress", "STREAM", "-o", "-"), ("decompress", "STREAM", "-c"),
                                  ("decompress", "-")])
def test_binary_output_to_a_terminal_is_refused_unless_forced(args, speech_file, stream, speech_model,
                                                               monkeypatch):
    from cli import codec_cmds

    monkeypatch.setattr(codec_cmds, "_stdout_is_terminal", lambda: True)
    files = {"SPEECH": speech_file, "STREAM": stream}
    data = (speech_file if args[0] == "compress" else stream).read_bytes()
    argv = [files.get(a, a) for a in args]
    r = run_cli(*argv, "-m", speech_model, input=data)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == (b"vqcodec: error: refusing to write binary data to a terminal; "
                        b"redirect it or use -o FILE\n")
    forced = run_cli(*argv, "-m", speech_model, "-f", input=data)
    assert forced.returncode == 0 and len(forced.stdout) > 40, forced.stderr


@pytest.mark.parametrize("char", ["a", "é"])  # 1 and 2 bytes: names of 255 bytes, the most
def test_an_output_name_as_long_as_the_file_system_allows_is_written(char, speech_file, stream,
                                                                     speech_model, tmp_path):
    name = char * ((255 - len(".wav")) // len(char.encode())) + ".wav"
    assert len(name.encode()) in (254, 255)
    r = run_cli("decompress", stream, "-m", speech_model, "-o", tmp_path / name)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("args", [("compress", "-", "-o", "OUT"), ("decompress", "-", "-o", "OUT"),
                                  ("info", "-")])
def test_standard_input_that_is_a_terminal_is_refused_not_waited_on(args, speech_model, tmp_path,
                                                                     monkeypatch):
    from cli import errors

    monkeypatch.setattr(errors, "stdin_is_terminal", lambda: True)
    argv = [tmp_path / "out" if a == "OUT" else a for a in args]
    r = run_cli(*argv, *(("-m", speech_model) if args[0] != "info" else ()), input=b"")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == (b"vqcodec: error: refusing to read binary data from a terminal; "
                        b"redirect or pipe the input\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, closed, code, message", [
    (("compress", "-", "-o", "OUT"), 0, 2, "standard input is closed"),
    (("decompress", "-", "-o", "OUT"), 0, 2, "standard input is closed"),
    (("info", "-"), 0, 2, "standard input is closed"),
    (("compress", "SPEECH", "-c"), 1, 4, "standard output is closed"),
    (("decompress", "STREAM", "-c"), 1, 4, "standard output is closed"),
])
def test_a_closed_standard_input_or_output_is_named_not_an_internal_error(
        args, closed, code, message, speech_file, stream, speech_model, tmp_path):
    """`cmd <&-` or `cmd >&-` in a shell: Python's sys.stdin or sys.stdout is None."""
    files = {"SPEECH": speech_file, "STREAM": stream, "OUT": tmp_path / "out"}
    argv = [str(files.get(a, a)) for a in args]
    r = subprocess.run([sys.executable, "-m", "cli.main", *argv,
                        *(("-m", str(speech_model)) if args[0] != "info" else ())],
                       stdout=None if closed == 1 else subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=ROOT, timeout=120, preexec_fn=lambda: os.close(closed))
    assert r.returncode == code
    assert r.stderr.decode() == f"vqcodec: error: {message}\n"
    assert list(tmp_path.iterdir()) == []
